"""Import rate: a generated weave-minimal data folder imported into this service.

    python -m loadtest.importrate [--accounts 1000] [--full-fraction 0.05] [--backend sqlite|mysql]

Writes ``--accounts`` account files exactly as weave-minimal 1.5.1 lays them
out (one SQLite file per account, a table per collection; loadtest/profiles.py's
light and full profiles), then runs ``syncstorage import weave-minimal`` into
a new database (SQLite, or a throwaway MariaDB) and prints records/s and MB/s.
The baseline, measured in the same run on the same files: reading every record
of the source (what the import cannot go below).
"""
from __future__ import annotations

import argparse
import hashlib
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from loadtest import profiles
from syncstorage.gate.passwords import WEAVE_MINIMAL_SALT
from syncstorage.services.imports.weave_minimal import WeaveMinimalSource

TABLE = ("CREATE TABLE {} (id VARCHAR(64) PRIMARY KEY, modified FLOAT, sortindex INTEGER, payload VARCHAR(256), "
         "payload_size INTEGER, parentid VARCHAR(64), predecessorid VARCHAR(64), ttl INTEGER)")


def generate(folder: Path, accounts: int, full_fraction: float, seed: int = 1) -> tuple[int, int]:
    """Account files in ``folder``; returns (records, payload bytes)."""
    rng = random.Random(seed)
    random.seed(seed)
    digest = hashlib.sha1((WEAVE_MINIMAL_SALT + profiles.PASSWORD).encode()).hexdigest()[:16]
    now = time.time()
    total_records = total_bytes = 0
    for index in range(accounts):
        profile = profiles.FULL if rng.random() < full_fraction else profiles.LIGHT
        data = profiles.initial_data_set(profile)
        data["meta"] = [{"id": "global", "payload": profiles.payload(300)}]
        data["crypto"] = [{"id": "keys", "payload": profiles.payload(400)}]
        with sqlite3.connect(folder / f"{profiles.account_name(index)}.{digest}") as db:
            for name, records in data.items():
                db.execute(TABLE.format(name))
                db.executemany(
                    f"INSERT INTO {name} (id, modified, sortindex, payload, payload_size, ttl) VALUES (?,?,?,?,?,?)",
                    [(r["id"], round(now - rng.random() * 86400 * 30, 2), r.get("sortindex"), r["payload"],
                      len(r["payload"]), r.get("ttl")) for r in records])
                total_records += len(records)
                total_bytes += sum(len(r["payload"]) for r in records)
    return total_records, total_bytes


def read_all(folder: Path) -> tuple[int, float]:
    """The baseline: every record of the source read, nothing written."""
    started = time.perf_counter()
    source = WeaveMinimalSource(folder)
    count = 0
    for account in source.accounts():
        for name in source.collections(account):
            count += sum(1 for _ in source.rows(account, name))
    return count, time.perf_counter() - started


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--full-fraction", type=float, default=0.05,
                        help="share of accounts with a full desktop profile (~1 MB); the rest are light")
    parser.add_argument("--backend", choices=("sqlite", "mysql"), default="sqlite")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="syncstorage-importrate-"))
    folder = work / "data"
    folder.mkdir()
    records, size = generate(folder, args.accounts, args.full_fraction)
    print(f"source: {args.accounts} weave-minimal accounts, {records:,} records, {size / 1e6:.1f} MB")
    mariadb = None
    if args.backend == "mysql":
        from loadtest.services import MariaDB

        mariadb = MariaDB().start()
        url = mariadb.create_database("importrate")
    else:
        url = f"sqlite:///{work / 'target.db'}"
    try:
        env = {"SYNCSTORAGE_STORAGE_SQLURI": url, "PATH": "/usr/bin:/bin"}
        subprocess.run([sys.executable, "-m", "syncstorage.ops.cli", "migrate"], env=env, check=True,
                       capture_output=True)
        read, read_seconds = read_all(folder)
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "syncstorage.ops.cli", "import", "weave-minimal", str(folder)],
                              env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr.strip()
        print(f"import into {args.backend}: exit {done.returncode}; {summary}")
        print(f"import: {records / seconds:,.0f} records/s, {size / 1e6 / seconds:.2f} MB/s, "
              f"{args.accounts / seconds:.1f} accounts/s ({seconds:.1f} s, whole command)")
        print(f"baseline (reading the source only): {read / read_seconds:,.0f} records/s ({read_seconds:.1f} s); "
              f"import / baseline = {read_seconds / seconds:.2f}")
        return done.returncode
    finally:
        if mariadb is not None:
            mariadb.stop()
        subprocess.run(["rm", "-rf", str(work)])


if __name__ == "__main__":
    sys.exit(main())
