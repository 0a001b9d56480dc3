"""Record ids and relations compared byte for byte; retired user ids.

MariaDB's ``*_bin`` collations are PAD SPACE: ``'abc '`` equals ``'abc'``, so a
PUT of ``abc `` overwrote ``abc``.  Ids, parentid and predecessorid become
VARBINARY on MySQL/MariaDB (SQLite's default collation already compares bytes).

``retired_users`` lists the ids of deleted accounts: a write that authenticated
before its account was deleted finds its user id here, under the same locks as
the deletion, and fails instead of leaving records behind.

Revision ID: s0002
Revises: s0001
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa

revision = "s0002"
down_revision = "s0001"
branch_labels = None
depends_on = None

TABLE_ARGS = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}


def _shards(bind) -> int:
    return int(bind.execute(sa.text("SELECT value FROM storage_settings WHERE name = 'shards'")).scalar())


def upgrade():
    bind = op.get_bind()
    op.create_table(
        "retired_users",
        sa.Column("userid", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
                  autoincrement=False),
        sa.Column("retired", sa.BigInteger, nullable=False),
        **TABLE_ARGS)
    if bind.dialect.name == "sqlite":
        return
    for shard in range(_shards(bind)):
        op.execute(f"ALTER TABLE wbo{shard} MODIFY id VARBINARY(64) NOT NULL, "
                   "MODIFY parentid VARBINARY(256) NULL, MODIFY predecessorid VARBINARY(256) NULL")


def downgrade():
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        for shard in range(_shards(bind)):
            op.execute(f"ALTER TABLE wbo{shard} MODIFY id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL, "
                       "MODIFY parentid VARCHAR(64) NULL, MODIFY predecessorid VARCHAR(64) NULL")
    op.drop_table("retired_users")
