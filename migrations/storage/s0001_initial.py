"""Storage tables: collections, user_collections and the wbo shards.

The shard count comes from ``[storage] shards`` when the database is new and is
recorded in ``storage_settings``; it cannot change afterwards.

Revision ID: s0001
Revises:
Create Date: 2026-11-26
"""
from alembic import context, op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

revision = "s0001"
down_revision = None
branch_labels = ("storage",)
depends_on = None

TABLE_ARGS = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}
USERID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
COLLECTIONID = sa.SmallInteger().with_variant(sa.Integer(), "sqlite")
RECORD_ID = sa.String(64).with_variant(mysql.VARCHAR(64, charset="ascii", collation="ascii_bin"), "mysql", "mariadb")
STANDARD = {"clients": 1, "crypto": 2, "forms": 3, "history": 4, "keys": 5, "meta": 6,
            "bookmarks": 7, "prefs": 8, "tabs": 9, "passwords": 10, "addons": 11}


def upgrade():
    shards = int(context.config.attributes["shards"])
    bind = op.get_bind()
    settings = op.create_table(
        "storage_settings",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("value", sa.String(255), nullable=False),
        **TABLE_ARGS)
    op.bulk_insert(settings, [{"name": "shards", "value": str(shards)}])

    collections = op.create_table(
        "collections",
        sa.Column("collectionid", COLLECTIONID, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(32), nullable=False, unique=True),
        sqlite_autoincrement=True, mysql_auto_increment="100", **TABLE_ARGS)
    op.bulk_insert(collections, [{"collectionid": cid, "name": name} for name, cid in STANDARD.items()])
    if bind.dialect.name == "sqlite":
        # Custom collections are numbered from 100 up, as on MySQL.
        op.execute("UPDATE sqlite_sequence SET seq = 99 WHERE name = 'collections'")

    op.create_table(
        "user_collections",
        sa.Column("userid", USERID, primary_key=True, autoincrement=False),
        sa.Column("collectionid", COLLECTIONID, primary_key=True, autoincrement=False),
        sa.Column("modified", sa.BigInteger, nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("bytes", sa.BigInteger, nullable=False),
        sa.Column("min_ttl", sa.Integer, nullable=False),
        **TABLE_ARGS)

    for shard in range(shards):
        name = f"wbo{shard}"
        op.create_table(
            name,
            sa.Column("userid", USERID, primary_key=True, autoincrement=False),
            sa.Column("collectionid", COLLECTIONID, primary_key=True, autoincrement=False),
            sa.Column("id", RECORD_ID, primary_key=True),
            sa.Column("sortindex", sa.Integer),
            sa.Column("modified", sa.BigInteger, nullable=False),
            sa.Column("payload", sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb"), nullable=False),
            sa.Column("payload_size", sa.Integer, nullable=False),
            sa.Column("ttl", sa.Integer, nullable=False),
            sa.Column("parentid", sa.String(64)),
            sa.Column("predecessorid", sa.String(64)),
            **TABLE_ARGS)
        op.create_index(f"{name}_usr_col_mod", name, ["userid", "collectionid", "modified"])
        op.create_index(f"{name}_ttl", name, ["ttl"])


def downgrade():
    shards = int(op.get_bind().execute(sa.text("SELECT value FROM storage_settings WHERE name = 'shards'")).scalar())
    for shard in range(shards):
        op.drop_table(f"wbo{shard}")
    op.drop_table("user_collections")
    op.drop_table("collections")
    op.drop_table("storage_settings")
