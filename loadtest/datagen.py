"""Fill a storage node with N accounts and realistic records, fast and resumable.

    python -m loadtest.datagen --sqluri mysql+pymysql://... --users 1000000 [--full-fraction 0.004]

Accounts are ``lt00000000``, ``lt00000001``, ... with the password of
loadtest/profiles.py (one shared hash: paying the KDF a million times would
take a day and prove nothing).  A share ``--full-fraction`` of them carries a
full desktop profile (~1 MB, ~1,800 records); the rest a light one (a few
bookmarks, a tab, a client record), plus meta/global and crypto/keys for all.
Rows go straight into the schema with multi-row inserts, batch by batch, each
batch one transaction; a re-run resumes after the last complete batch.
"""
from __future__ import annotations

import argparse
import random
import sys
import time

import sqlalchemy as sa
from tqdm import tqdm

from syncstorage.infra.dbengine import create_engine
from syncstorage.gate.passwords import hash_password
from syncstorage.storage.schema import NO_EXPIRY, STANDARD_COLLECTIONS, StorageSchema, shard_for
from syncstorage.storage.sql import read_shard_count
from syncstorage.users.sql import users_table

from loadtest import profiles

INSERT_CHUNK = 5000


def existing_accounts(conn, users: sa.Table) -> int:
    """How many lt accounts exist; batches are atomic, so they are 0..n-1."""
    return conn.execute(sa.select(sa.func.count()).where(users.c.username.like("lt%"))).scalar()


def user_rows(index: int, rng: random.Random, now: int, full_fraction: float):
    """(collection id, row dict without userid) for one account's records."""
    profile = profiles.FULL if rng.random() < full_fraction else profiles.LIGHT
    rows = []
    base_modified = (now - rng.randint(0, 100 * profiles.DAY)) * 100
    for name, ((low, high), (small, big), ttl, has_sortindex) in profile.items():
        for n in range(rng.randint(low, high)):
            size = rng.randint(small, big)
            rows.append((STANDARD_COLLECTIONS[name], {
                "id": f"{name[:2]}{index:x}x{n:05d}", "sortindex": rng.randint(0, 2000) if has_sortindex else None,
                "modified": base_modified + rng.randint(0, 100 * 3600 * 100), "payload": profiles.payload(size),
                "payload_size": 0, "ttl": now + ttl if ttl else NO_EXPIRY, "parentid": None, "predecessorid": None}))
    for name, rid, size in (("meta", "global", 300), ("crypto", "keys", 400)):
        rows.append((STANDARD_COLLECTIONS[name], {
            "id": rid, "sortindex": None, "modified": base_modified, "payload": profiles.payload(size),
            "payload_size": 0, "ttl": NO_EXPIRY, "parentid": None, "predecessorid": None}))
    for _cid, row in rows:
        row["payload_size"] = len(row["payload"])  # ASCII: bytes == characters
    return rows


def generate(storage_url: str, users_url: str, target: int, full_fraction: float, batch: int,
             seed: int, progress: bool = True) -> tuple[int, int]:
    """Create accounts up to ``target``; return (accounts created now, records written now)."""
    storage_engine, users_engine = create_engine(storage_url), create_engine(users_url)
    schema = StorageSchema(read_shard_count(storage_engine))
    users = users_table(sa.MetaData())
    password = hash_password(profiles.PASSWORD)
    now = int(time.time())
    with users_engine.connect() as conn:
        start = existing_accounts(conn, users)
    created = written = 0
    bar = tqdm(total=target, initial=min(start, target), unit="users", disable=not progress, smoothing=0.05)
    try:
        for first in range(start, target, batch):
            indexes = range(first, min(first + batch, target))
            names = [profiles.account_name(i) for i in indexes]
            with users_engine.begin() as conn:
                conn.execute(users.insert(), [{"username": n, "email": f"{n}@loadtest.example.com",
                                               "password_hash": password, "status": 1, "created": now}
                                              for n in names])
                ids = dict(conn.execute(sa.select(users.c.username, users.c.userid)
                                        .where(users.c.username.in_(names))).all())
            by_shard: dict[int, list[dict]] = {}
            totals = []
            for index, name in zip(indexes, names):
                userid = ids[name]
                per_collection: dict[int, list] = {}
                for cid, row in user_rows(index, random.Random(seed * 1_000_003 + index), now, full_fraction):
                    row.update(userid=userid, collectionid=cid)
                    by_shard.setdefault(shard_for(userid, schema.shards), []).append(row)
                    per_collection.setdefault(cid, []).append(row)
                for cid, rows in per_collection.items():
                    totals.append({"userid": userid, "collectionid": cid, "modified": max(r["modified"] for r in rows),
                                   "count": len(rows), "bytes": sum(r["payload_size"] for r in rows),
                                   "min_ttl": min(r["ttl"] for r in rows)})
            with storage_engine.begin() as conn:
                for shard, rows in by_shard.items():
                    for at in range(0, len(rows), INSERT_CHUNK):
                        conn.execute(schema.wbo[shard].insert(), rows[at:at + INSERT_CHUNK])
                conn.execute(schema.user_collections.insert(), totals)
            records = sum(len(rows) for rows in by_shard.values())
            created, written = created + len(names), written + records
            bar.update(len(names))
            bar.set_postfix(records=f"{written:,}")
    finally:
        bar.close()
        storage_engine.dispose()
        users_engine.dispose()
    return created, written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sqluri", required=True, help="storage database (migrated)")
    parser.add_argument("--users-sqluri", help="user database (default: the storage one)")
    parser.add_argument("--users", type=int, required=True, help="accounts wanted in total")
    parser.add_argument("--full-fraction", type=float, default=0.004,
                        help="share of accounts with a full ~1 MB desktop profile")
    parser.add_argument("--batch", type=int, default=500, help="accounts per transaction")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    started = time.time()
    created, written = generate(args.sqluri, args.users_sqluri or args.sqluri, args.users, args.full_fraction,
                                args.batch, args.seed, progress=not args.quiet)
    elapsed = time.time() - started
    print(f"created {created} accounts and {written} records in {elapsed:.0f} s "
          f"({written / max(elapsed, 1e-9):.0f} records/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
