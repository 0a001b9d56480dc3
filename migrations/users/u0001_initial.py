"""User accounts (User API 1.0).

Revision ID: u0001
Revises:
Create Date: 2026-11-26
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

revision = "u0001"
down_revision = None
branch_labels = ("users",)
depends_on = None


def upgrade():
    op.create_table(
        "users",
        sa.Column("userid", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("username", sa.String(32).with_variant(mysql.VARCHAR(32, charset="ascii", collation="ascii_bin"),
                                                         "mysql", "mariadb"), nullable=False, unique=True),
        sa.Column("email", sa.String(255), nullable=True),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("status", sa.SmallInteger, nullable=False, server_default="1"),
        sa.Column("created", sa.BigInteger, nullable=False),
        sa.Column("reset_code_hash", sa.String(64), nullable=True),
        sa.Column("reset_expires", sa.BigInteger, nullable=True),
        mysql_engine="InnoDB", mysql_charset="utf8mb4", mysql_collate="utf8mb4_bin")


def downgrade():
    op.drop_table("users")
