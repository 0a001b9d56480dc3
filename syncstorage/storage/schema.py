"""Tables of the storage database, and THE shard-routing function.

Records live in ``wbo0 .. wbo{N-1}``; a user's rows are all in table
``wbo{userid % N}`` (:func:`shard_for`).  N is chosen when the database is first
migrated and recorded in ``storage_settings``; it is never a runtime knob.

``user_collections`` holds one row per (user, collection) with a stored item:
``modified`` is the greatest ``modified`` of its rows (the collection
timestamp), ``count``/``bytes`` count its rows and their payload bytes, and
``min_ttl`` is a lower bound of their expiry times.  While ``min_ttl`` is in the
future every row is live, so the counts are exact without touching ``wbo``;
once it passes, readers recount live rows and the next write purges the
expired ones (see storage/sql.py).
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

# Far-future expiry for records without a TTL (the largest signed INT).
NO_EXPIRY = 2**31 - 1
FIRST_CUSTOM_COLLECTION_ID = 100

STANDARD_COLLECTIONS = {
    "clients": 1, "crypto": 2, "forms": 3, "history": 4, "keys": 5, "meta": 6,
    "bookmarks": 7, "prefs": 8, "tabs": 9, "passwords": 10, "addons": 11,
}

MYSQL_TABLE_ARGS = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}



class ExactText(sa.types.TypeDecorator):
    """Text compared byte for byte (spec §2: ids are exact byte strings).

    MySQL's and MariaDB's ``*_bin`` collations ignore trailing spaces (PAD SPACE),
    so the column is VARBINARY there, holding UTF-8; SQLite's default collation
    already compares bytes."""

    impl = sa.String
    cache_ok = True

    def __init__(self, chars: int, max_bytes: int):
        super().__init__(chars)
        self.max_bytes = max_bytes

    def load_dialect_impl(self, dialect):
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.VARBINARY(self.max_bytes))
        return dialect.type_descriptor(sa.String(self.impl.length))

    def process_bind_param(self, value, dialect):
        if value is not None and dialect.name in ("mysql", "mariadb"):
            return value.encode("utf-8")
        return value

    def process_result_value(self, value, dialect):
        return value.decode("utf-8") if isinstance(value, bytes) else value


RecordId = ExactText(64, 64)  # printable ASCII (wbo.valid_id)
Relation = ExactText(64, 256)  # parentid / predecessorid: up to 64 characters of any text
Payload = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")
CollectionId = sa.SmallInteger().with_variant(sa.Integer(), "sqlite")
UserId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def shard_for(userid: int, shards: int) -> int:
    """The one shard-routing rule: the wbo table number holding ``userid``'s rows."""
    return userid % shards


def settings_table(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        "storage_settings", metadata,
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("value", sa.String(255), nullable=False),
        **MYSQL_TABLE_ARGS,
    )


def collections_table(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        "collections", metadata,
        sa.Column("collectionid", CollectionId, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(32), nullable=False, unique=True),
        sqlite_autoincrement=True,
        **MYSQL_TABLE_ARGS,
    )


def user_collections_table(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        "user_collections", metadata,
        sa.Column("userid", UserId, primary_key=True, autoincrement=False),
        sa.Column("collectionid", CollectionId, primary_key=True, autoincrement=False),
        sa.Column("modified", sa.BigInteger, nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("bytes", sa.BigInteger, nullable=False),
        sa.Column("min_ttl", sa.Integer, nullable=False),
        **MYSQL_TABLE_ARGS,
    )


def retired_users_table(metadata: sa.MetaData) -> sa.Table:
    """Ids of deleted accounts: writes for them fail (see SQLStorage.retire_user)."""
    return sa.Table(
        "retired_users", metadata,
        sa.Column("userid", UserId, primary_key=True, autoincrement=False),
        sa.Column("retired", sa.BigInteger, nullable=False),
        **MYSQL_TABLE_ARGS,
    )


def wbo_table(metadata: sa.MetaData, shard: int) -> sa.Table:
    name = f"wbo{shard}"
    return sa.Table(
        name, metadata,
        sa.Column("userid", UserId, primary_key=True, autoincrement=False),
        sa.Column("collectionid", CollectionId, primary_key=True, autoincrement=False),
        sa.Column("id", RecordId, primary_key=True),
        sa.Column("sortindex", sa.Integer),
        sa.Column("modified", sa.BigInteger, nullable=False),
        sa.Column("payload", Payload, nullable=False),
        sa.Column("payload_size", sa.Integer, nullable=False),
        sa.Column("ttl", sa.Integer, nullable=False),
        sa.Column("parentid", Relation),
        sa.Column("predecessorid", Relation),
        sa.Index(f"{name}_usr_col_mod", "userid", "collectionid", "modified"),
        sa.Index(f"{name}_ttl", "ttl"),
        **MYSQL_TABLE_ARGS,
    )


class StorageSchema:
    """The storage tables for a database with ``shards`` wbo tables."""

    def __init__(self, shards: int):
        if shards < 1:
            raise ValueError("shards must be at least 1")
        self.shards = shards
        self.metadata = sa.MetaData()
        self.settings = settings_table(self.metadata)
        self.collections = collections_table(self.metadata)
        self.user_collections = user_collections_table(self.metadata)
        self.retired_users = retired_users_table(self.metadata)
        self.wbo = [wbo_table(self.metadata, n) for n in range(shards)]

    def wbo_for(self, userid: int) -> sa.Table:
        return self.wbo[shard_for(userid, self.shards)]
