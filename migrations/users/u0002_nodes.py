"""Storage nodes and each account's assigned node.

Revision ID: u0002
Revises: u0001
Create Date: 2026-11-26
"""
from alembic import op
import sqlalchemy as sa

revision = "u0002"
down_revision = "u0001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "nodes",
        sa.Column("nodeid", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("url", sa.String(255), nullable=False, unique=True),
        sa.Column("available", sa.SmallInteger, nullable=False, server_default="1"),
        sa.Column("current_load", sa.Integer, nullable=False, server_default="0"),
        sa.Column("capacity", sa.Integer, nullable=False, server_default="0"),
        sa.Column("downed", sa.SmallInteger, nullable=False, server_default="0"),
        sa.Column("backoff", sa.Integer, nullable=False, server_default="0"),
        mysql_engine="InnoDB", mysql_charset="utf8mb4", mysql_collate="utf8mb4_bin")
    op.add_column("users", sa.Column("nodeid", sa.Integer, nullable=True))
    op.create_index("users_nodeid", "users", ["nodeid"])


def downgrade():
    op.drop_index("users_nodeid", "users")
    op.drop_column("users", "nodeid")
    op.drop_table("nodes")
