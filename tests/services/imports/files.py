"""Source files for import tests, laid out as the source servers write them."""
import hashlib
import sqlite3

from syncstorage.gate.passwords import WEAVE_MINIMAL_SALT


def weave_minimal_account(folder, user: str, password: str, collections: dict[str, list[tuple]]) -> None:
    """An account file exactly as weave-minimal 1.5.1 writes it (its set_item's table)."""
    digest = hashlib.sha1((WEAVE_MINIMAL_SALT + password).encode()).hexdigest()[:16]
    with sqlite3.connect(folder / f"{user}.{digest}") as db:
        for name, rows in collections.items():
            db.execute(f"CREATE TABLE {name} (id VARCHAR(64) PRIMARY KEY, modified FLOAT, sortindex INTEGER, "
                       "payload VARCHAR(256), payload_size INTEGER, parentid VARCHAR(64), "
                       "predecessorid VARCHAR(64), ttl INTEGER)")
            db.executemany(f"INSERT INTO {name} (id, modified, payload, payload_size) VALUES (?, ?, ?, ?)",
                           [(i, m, p, len(p)) for i, m, p in rows])
