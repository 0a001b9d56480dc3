"""An FSyncMS database (MySQL/MariaDB or SQLite) as an import source.

FSyncMS (PHP) keeps two tables, created by its setup.php:

* ``users (username, md5)``: ``md5`` is the hex MD5 of the password, or a
  crypt(3) bcrypt string (``$2a$...``) when its BCRYPT setting is on
  (gate/passwords.py: ``{MD5}``, ``{BCRYPT}``); no e-mail address;
* ``wbo (username, id, collection, parentid, predecessorid, modified, sortindex,
  payload, payload_size, ttl)`` with primary key (username, collection, id);
  ``modified`` in seconds, ``predecessorid`` an INT by mistake, ``ttl`` never
  written by FSyncMS (taken, if present, as seconds after ``modified``).

Read with bound parameters only, in one read-only pass per collection.
"""
from __future__ import annotations

from typing import Iterator

import sqlalchemy as sa
from sqlalchemy import exc

from syncstorage.gate.passwords import legacy_hash
from syncstorage.services.imports.sources import BadSource, SourceAccount

COLUMNS = ("id", "modified", "sortindex", "payload", "parentid", "predecessorid", "ttl")
metadata = sa.MetaData()
users = sa.Table("users", metadata, sa.Column("username", sa.String), sa.Column("md5", sa.String))
wbo = sa.Table("wbo", metadata, sa.Column("username", sa.String), sa.Column("collection", sa.String),
               *(sa.Column(name) for name in COLUMNS))


def stored_hash(value: str | None) -> str | None:
    """FSyncMS's ``users.md5`` in this service's stored form."""
    if not value:
        return None
    value = value.strip()
    return legacy_hash("{BCRYPT}" if value.startswith("$2") else "{MD5}", value)


class FSyncMSSource:
    kind = "fsyncms"

    def __init__(self, sqluri: str):
        try:
            self.engine = sa.create_engine(sqluri, poolclass=sa.pool.NullPool)
            with self.engine.connect() as conn:
                conn.execute(sa.select(sa.func.count()).select_from(users)).scalar()
                conn.execute(sa.select(sa.func.count()).select_from(wbo)).scalar()
        except (exc.SQLAlchemyError, ImportError, ValueError) as error:
            raise BadSource(f"cannot read an FSyncMS database at {_safe(sqluri)}: "
                            f"{getattr(error, 'orig', None) or error}") from None
        self._orphans: list[str] = []

    def accounts(self) -> list[SourceAccount]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(users.c.username, users.c.md5).order_by(users.c.username)).all()
            known = {row.username for row in rows}
            owners = conn.execute(sa.select(wbo.c.username, sa.func.count()).group_by(wbo.c.username)).all()
        self._orphans = [f"{count} records of user {name!r}, who has no row in users: not imported"
                         for name, count in owners if name not in known]
        return [SourceAccount(row.username, stored_hash(row.md5), key=row.username) for row in rows]

    def collections(self, account: SourceAccount) -> list[str]:
        stmt = sa.select(wbo.c.collection).where(wbo.c.username == account.key).distinct().order_by(wbo.c.collection)
        with self.engine.connect() as conn:
            return list(conn.execute(stmt).scalars())

    def rows(self, account: SourceAccount, collection: str) -> Iterator[dict]:
        stmt = (sa.select(*(wbo.c[name] for name in COLUMNS))
                .where(wbo.c.username == account.key, wbo.c.collection == collection).order_by(wbo.c.id))
        with self.engine.connect() as conn:
            result = conn.execution_options(stream_results=True).execute(stmt)
            for part in result.partitions(500):
                for row in part:
                    yield dict(row._mapping)

    def problems(self) -> list[str]:
        return list(self._orphans)

    def close(self) -> None:
        self.engine.dispose()


def _safe(sqluri: str) -> str:
    """The URL without its password."""
    try:
        return sa.engine.make_url(sqluri).render_as_string(hide_password=True)
    except exc.ArgumentError:
        return "(not a database URL)"
