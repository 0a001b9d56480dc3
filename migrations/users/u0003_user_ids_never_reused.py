"""User ids are never reused.

On SQLite an INTEGER PRIMARY KEY without AUTOINCREMENT hands out max(rowid)+1,
so deleting the newest account gave its id to the next one, and with it any
record a late write had left under that id.  AUTOINCREMENT keeps a high-water
mark instead.  (InnoDB's AUTO_INCREMENT already persists its counter on
MariaDB 10.2.4 and later.)

Revision ID: u0003
Revises: u0002
Create Date: 2026-12-01
"""
from alembic import op

revision = "u0003"
down_revision = "u0002"
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table("users", recreate="always", table_kwargs={"sqlite_autoincrement": True}):
        pass


def downgrade():
    pass
