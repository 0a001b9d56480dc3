"""Importing a source's accounts and records into this service, verified.

Per account, in two passes over the source (memory stays bounded whatever the
account's size):

1. read every record and sum up, per collection, the records, payload bytes
   and newest ``modified`` (what the source's own info/collections shows);
   records that break the protocol's rules are problems of the account;
2. unless this is a dry run: create the account (with the source's password
   hash, upgraded at its first login, and no e-mail when the source has none)
   on its storage node, replace its records by the source's in bounded
   batches, record each collection's totals and timestamp, then read back
   what was stored and compare it with step 1.

Re-running is safe: an account whose records already equal the source's is
left alone ("unchanged"), and one that holds data newer than the source (its
clients synced here since) is kept unless ``replace``.  An existing account's
password and e-mail are never changed.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from sqlite3 import Error as SqliteError
from typing import Callable, TextIO

from sqlalchemy import exc

from syncstorage.infra.dbengine import BackendError
from syncstorage.services.imports.sources import Source, SourceAccount, convert, valid_collection
from syncstorage.services.root import Services
from syncstorage.storage.base import CollectionTotals
from syncstorage.storage.schema import NO_EXPIRY
from syncstorage.storage.transfer import forget, sql_store
from syncstorage.users.base import UserExists
from syncstorage.users.names import valid_username

NEWER_HERE = "holds data newer than the source (its clients synced here since?): left as it is; " \
             "--replace overwrites it with the source's"
BATCH_RECORDS = 500
BATCH_BYTES = 4 * 1024 * 1024

# how an account ended
IMPORTED, UNCHANGED, WOULD_IMPORT, KEPT, FAILED = "imported", "unchanged", "would import", "kept", "failed"


@dataclass
class Totals:
    """One collection as counted: records, payload bytes, newest ``modified`` (centiseconds)."""

    records: int = 0
    bytes: int = 0
    newest: int = 0

    def add(self, size: int, modified: int) -> None:
        self.records += 1
        self.bytes += size
        self.newest = max(self.newest, modified)


@dataclass
class AccountResult:
    username: str
    status: str
    source: dict[str, Totals] = field(default_factory=dict)
    target: dict[str, Totals] | None = None  # None: not compared (dry run, failure before writing)
    problems: list[str] = field(default_factory=list)

    @property
    def differing(self) -> list[str]:
        """Collections whose stored records differ from the source's."""
        if self.target is None:
            return []
        return sorted(name for name in set(self.source) | set(self.target)
                      if self.source.get(name, Totals()) != self.target.get(name, Totals()))

    @property
    def ok(self) -> bool:
        return self.status in (IMPORTED, UNCHANGED, WOULD_IMPORT) and not self.problems and not self.differing

    @property
    def records(self) -> int:
        return sum(t.records for t in self.source.values())

    @property
    def bytes(self) -> int:
        return sum(t.bytes for t in self.source.values())


@dataclass
class ImportReport:
    kind: str
    dry_run: bool
    accounts: list[AccountResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # the source's, outside any account
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems and all(result.ok for result in self.accounts)

    def count(self, status: str) -> int:
        return sum(1 for result in self.accounts if result.status == status)

    @property
    def records_written(self) -> int:
        return sum(t.records for r in self.accounts if r.status == IMPORTED for t in (r.target or {}).values())


class Progress:
    """A progress bar on a terminal, else a line every ``every`` seconds."""

    def __init__(self, total: int, stream: TextIO, clock: Callable[[], float] = time.monotonic,
                 every: float = 10.0):
        self.total, self.stream, self.clock, self.every = total, stream, clock, every
        self.tty = hasattr(stream, "isatty") and stream.isatty()
        self.started = self.last = clock()
        self.shown = False

    def update(self, done: int, records: int) -> None:
        now = self.clock()
        if done < self.total and now - self.last < (0.2 if self.tty else self.every):
            return
        self.last = now
        rate = records / max(now - self.started, 1e-6)
        text = f"{done}/{self.total} accounts, {records:,} records, {rate:,.0f} records/s"
        if self.tty:
            filled = 30 * done // max(self.total, 1)
            self.stream.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {text}")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
        self.shown = True

    def finish(self) -> None:
        if self.tty and self.shown:
            self.stream.write("\n")
            self.stream.flush()


def import_accounts(services: Services, source: Source, *, dry_run: bool = False, replace: bool = False,
                    progress: Progress | None = None, clock: Callable[[], float] = time.monotonic) -> ImportReport:
    """Import every account of ``source``; the report says what happened to each."""
    started = clock()
    report = ImportReport(source.kind, dry_run)
    accounts = source.accounts()
    report.problems = source.problems()
    if progress is not None:
        progress.total = len(accounts)
    nodes = {node.nodeid: node.url for node in services.userdb.nodes.all()}
    records = 0
    for done, account in enumerate(accounts, 1):
        result = _import_account(services, source, account, dry_run, replace, nodes)
        report.accounts.append(result)
        records += result.records
        if progress is not None:
            progress.update(done, records)
    if progress is not None:
        progress.finish()
    report.seconds = clock() - started
    return report


def _import_account(services: Services, source: Source, account: SourceAccount, dry_run: bool, replace: bool,
                    nodes: dict[int, str]) -> AccountResult:
    result = AccountResult(account.username, FAILED, problems=list(account.problems))
    if not valid_username(account.username):
        result.problems.append("the user name is not one this service accepts (1-32 of A-Z a-z 0-9 . _ -)")
    if account.password_hash is None:
        result.problems.append("the password hash is not in a scheme the source uses: nobody could log in")
    if result.problems:
        return result
    try:
        names = _read_source(source, account, result)
        user = services.userdb.get_user(account.username)
        if _to_write(services, user, result, replace, nodes):
            if dry_run:
                result.status = WOULD_IMPORT
            else:
                _write(services, source, account, result, names, user, bool(nodes))
    except BackendError as error:
        result.problems.append(f"this service's database failed: {error}")
    except (OSError, exc.SQLAlchemyError, SqliteError) as error:
        result.problems.append(f"the source could not be read: {getattr(error, 'orig', None) or error}")
    return result


def _read_source(source: Source, account: SourceAccount, result: AccountResult) -> list[str]:
    """Pass 1: the source's totals per collection; returns the collections to import."""
    names = []
    for name in source.collections(account):
        totals = Totals()
        bad = 0
        for raw in source.rows(account, name):
            columns, why = convert(raw)
            if columns is None:
                bad += 1
                if bad <= 5:
                    result.problems.append(f"{name}: {why}: not imported")
                totals.add(*_raw_size_and_time(raw))  # the source's figures, as far as they can be read
                continue
            totals.add(columns["payload_size"], columns["modified"])
        if bad > 5:
            result.problems.append(f"{name}: {bad - 5} more records not imported")
        if totals.records == 0:
            continue  # an empty table: the source shows no such collection either
        result.source[name] = totals
        if valid_collection(name):
            names.append(name)
        else:
            result.problems.append(f"collection name {name!r} is not 1-32 of A-Z a-z 0-9 . _ -: not imported")
    return names


def _raw_size_and_time(raw: dict) -> tuple[int, int]:
    payload, modified = raw.get("payload"), raw.get("modified")
    size = len(payload) if isinstance(payload, (str, bytes)) else 0
    try:
        when = int(round(float(modified) * 100))
    except (TypeError, ValueError, OverflowError):
        when = 0
    return size, max(when, 0)


def _store_for(services: Services, user, has_nodes: bool):
    """The SQL store that holds ``user``'s records (assigning a node if they have none), or None."""
    node_url = None
    if has_nodes:
        node = services.userdb.assign_node(user)
        if node is None:
            return None, "no storage node has room for the account (syncstorage nodes list)"
        node_url = node.url
    store = services.node_stores.for_url(node_url)
    if store is None:
        return None, "this server has no record store: run the import on a storage node, or configure " \
                     "[users] node_databases"
    return store, None


def _to_write(services: Services, user, result: AccountResult, replace: bool, nodes: dict[int, str]) -> bool:
    """Whether the account's records are to be (re)written: not when it exists here with exactly
    the source's records (UNCHANGED), nor, unless ``replace``, when it holds anything newer than
    the source (KEPT).  Reads only: a dry run asks the same question."""
    if user is None:
        return True
    node_url = nodes.get(user.nodeid) if nodes else None
    store = None if nodes and node_url is None else services.node_stores.for_url(node_url)
    here = _stored_totals(sql_store(store), user.userid, result) if store is not None else {}
    if here == result.source:
        result.status, result.target = UNCHANGED, dict(result.source)
        return False
    newest_source = max((t.newest for t in result.source.values()), default=0)
    if not replace and any(t.newest > newest_source for t in here.values()):
        result.status = KEPT
        result.problems.append(NEWER_HERE)
        return False
    return True


def _write(services: Services, source: Source, account: SourceAccount, result: AccountResult, names: list[str],
           user, has_nodes: bool) -> None:
    """Create the account if needed, put it on its node and replace its records by the source's."""
    if user is None:
        try:
            user = services.userdb.create_user(account.username, account.email, account.password_hash)
        except UserExists:  # created meanwhile: a concurrent import or a sign-up
            user = services.userdb.get_user(account.username)
    store, why = _store_for(services, user, has_nodes)
    if store is None:
        result.problems.append(why)
        return
    sql = sql_store(store)
    _copy_records(sql, source, account, user.userid, names)
    forget(store, user.userid)
    result.status = IMPORTED
    result.target = _stored_totals(sql, user.userid, result)


def _copy_records(sql, source: Source, account: SourceAccount, userid: int, names: list[str]) -> None:
    """Pass 2: replace the account's records by the source's valid ones, in transactions of at
    most BATCH_RECORDS records or BATCH_BYTES of payload; each collection's totals go with its
    last records."""
    pending: dict[str, list[dict]] = {}
    finished: dict[str, CollectionTotals] = {}
    count = size = 0
    first = True

    def flush():
        nonlocal pending, finished, count, size, first
        sql.import_batch(userid, pending, finished, replace=first)
        pending, finished, count, size, first = {}, {}, 0, 0, False

    for name in names:
        totals, min_ttl = Totals(), NO_EXPIRY
        for raw in source.rows(account, name):
            columns, _ = convert(raw)
            if columns is None:
                continue  # reported by pass 1
            pending.setdefault(name, []).append(columns)
            count += 1
            size += columns["payload_size"]
            totals.add(columns["payload_size"], columns["modified"])
            min_ttl = min(min_ttl, columns["ttl"])
            if count >= BATCH_RECORDS or size >= BATCH_BYTES:
                flush()
        if totals.records:
            finished[name] = CollectionTotals(totals.newest, totals.records, totals.bytes, min_ttl)
    if first or pending or finished:
        flush()


def _stored_totals(sql, userid: int, result: AccountResult) -> dict[str, Totals]:
    """What the account's rows add up to here; a disagreement with the recorded totals is a problem."""
    stored = {}
    for name, (modified, count, size, _min_ttl, rows, row_bytes, newest) in sql.fingerprint(userid).items():
        stored[name] = Totals(rows, row_bytes, int(newest or 0))
        if (modified, count, size) != (newest, rows, row_bytes):
            result.problems.append(f"{name}: recorded totals ({count} records, {size} bytes, modified {modified}) "
                                   f"disagree with the stored records")
    return stored

