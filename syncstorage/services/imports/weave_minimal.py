"""weave-minimal's data folder as an import source.

weave-minimal keeps one SQLite file per account, named ``USER.HASH`` where HASH
is 16 hex digits of SHA-1 over its fixed salt and the password (gate/passwords.py,
``{WEAVE-MINIMAL}``), and one table per collection in it, named after the
collection, with columns id, modified (seconds), sortindex, payload,
payload_size, parentid, predecessorid and ttl (seconds after modified).  It
stores no e-mail address.  Files are opened read-only: importing from a
folder weave-minimal is still serving is safe (a record written meanwhile is
seen by a re-run).
"""
from __future__ import annotations

import os
import re
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Iterator
from urllib.parse import quote

from syncstorage.gate.passwords import legacy_hash
from syncstorage.services.imports.sources import BadSource, SourceAccount

ACCOUNT_FILE = re.compile(r"(?P<user>.+)\.(?P<hash>[0-9a-f]{16})")
COLUMNS = ("id", "modified", "sortindex", "payload", "parentid", "predecessorid", "ttl")


class WeaveMinimalSource:
    kind = "weave-minimal"

    def __init__(self, data_dir: str | os.PathLike):
        self.data_dir = Path(data_dir)
        if not self.data_dir.is_dir():
            raise BadSource(f"no weave-minimal data folder {self.data_dir}")
        self._stray: list[str] = []

    def accounts(self) -> list[SourceAccount]:
        by_user: dict[str, list[tuple[str, Path]]] = {}
        self._stray = []
        for path in sorted(self.data_dir.iterdir()):
            match = ACCOUNT_FILE.fullmatch(path.name)
            if not path.is_file() or match is None:
                self._stray.append(f"{path.name}: not an account file (USER.HASH), ignored")
                continue
            by_user.setdefault(match["user"], []).append((match["hash"], path))
        accounts = []
        for user, files in sorted(by_user.items()):
            digest, path = files[0]
            account = SourceAccount(user, legacy_hash("{WEAVE-MINIMAL}", digest), key=path)
            if len(files) > 1:
                account.problems.append(
                    f"{len(files)} files for one account ({', '.join(p.name for _, p in files)}): "
                    "keep the one weave-minimal serves and import again")
            accounts.append(account)
        return accounts

    def _connect(self, account: SourceAccount) -> sqlite3.Connection:
        return sqlite3.connect(f"file:{quote(str(account.key))}?mode=ro", uri=True)

    def collections(self, account: SourceAccount) -> list[str]:
        with closing(self._connect(account)) as db:
            return [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]

    def rows(self, account: SourceAccount, collection: str) -> Iterator[dict]:
        table = '"' + collection.replace('"', '""') + '"'  # a name from sqlite_master, quoted as SQL requires
        with closing(self._connect(account)) as db:
            present = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
            columns = ", ".join(name if name in present else f"NULL AS {name}" for name in COLUMNS)
            cursor = db.execute(f"SELECT {columns} FROM {table} ORDER BY id")
            while True:
                batch = cursor.fetchmany(500)
                if not batch:
                    return
                for row in batch:
                    yield dict(zip(COLUMNS, row))

    def problems(self) -> list[str]:
        return list(self._stray)

    def close(self) -> None:
        pass

