"""SQL record store (SQLAlchemy Core) for SQLite and MySQL/MariaDB.

The statements every request runs (the write's locking read, upsert and totals'
update; record reads, selection.py) are the driver's own SQL with positional
parameters, built once: through SQLAlchemy's compiler and result processing
they cost a large share of a request's CPU.  The rest is SQLAlchemy Core.

Every write is one transaction that first locks the (user, collection) row of
``user_collections`` (``SELECT ... FOR UPDATE`` on MySQL, ``BEGIN IMMEDIATE``
on SQLite), checks X-If-Unmodified-Since under that lock, writes the records
with one multi-row upsert and keeps ``user_collections`` exact.  Deadlocks and
lock timeouts are retried once; database unavailability becomes BackendError.

Expired records (see schema.py on ``min_ttl``): a write to a collection whose
``min_ttl`` has passed first deletes its expired rows and recounts, so that
afterwards every row of the collection is live and count/bytes deltas are exact.
"""
from __future__ import annotations

import threading
from typing import Callable, NamedTuple, Sequence, TypeVar

import sqlalchemy as sa
from sqlalchemy import bindparam, exc, func
from sqlalchemy.dialects import mysql as mysql_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect

from syncstorage.infra.dbengine import BackendError, is_sqlite, run_in_transaction
from syncstorage.wire.timestamps import to_seconds
from syncstorage.wire.wbo import WBO
from syncstorage.storage.base import (CollectionChanged, CollectionTotals, ItemQuery, Storage, StorageConflict, UserRetired,
                   WriteResult)
from syncstorage.storage.export import RecordExport
from syncstorage.storage.schema import NO_EXPIRY, STANDARD_COLLECTIONS, StorageSchema
from syncstorage.storage.selection import Selection

T = TypeVar("T")

UPSERT_COLUMNS = ("userid", "collectionid", "id", "sortindex", "modified", "payload", "payload_size", "ttl",
                  "parentid", "predecessorid")
REPLACED_COLUMNS = UPSERT_COLUMNS[3:]  # what a write changes in an existing record

# Rows deleted per statement when a delete selects ids first (limit + sort).
DELETE_CHUNK = 500
RETIRE_ATTEMPTS = 5  # a deletion racing the user's own writers may lose a deadlock a few times


def read_shard_count(engine: sa.engine.Engine) -> int:
    """The shard count recorded by the migration; BackendError if unreadable."""
    table = StorageSchema(1).settings
    try:
        with engine.connect() as conn:
            value = conn.execute(sa.select(table.c.value).where(table.c.name == "shards")).scalar()
    except exc.OperationalError as error:
        if "no such table" in str(error) or "doesn't exist" in str(error):
            raise BackendError("the storage database has no schema: run `syncstorage migrate`") from error
        raise BackendError(str(error.orig if error.orig is not None else error)) from error
    except exc.DBAPIError as error:
        raise BackendError(f"cannot read the storage schema (was `syncstorage migrate` run?): {error.orig}") from error
    if value is None:
        raise BackendError("storage database has no recorded shard count; run `syncstorage migrate`")
    return int(value)


class Existing(NamedTuple):
    """What a write's locking read found of its ids: how many exist, their bytes, and
    (when asked for) each one's size."""

    count: int
    bytes: int
    sizes: dict[str, int] | None


class SQLStorage(RecordExport, Storage):
    """Records in ``wbo{userid % shards}`` with per-collection totals in ``user_collections``."""

    def __init__(self, engine: sa.engine.Engine, shards: int | None = None):
        self.engine = engine
        self.shards = read_shard_count(engine) if shards is None else shards
        self.schema = StorageSchema(self.shards)
        self._mysql = not is_sqlite(engine)
        # The standard collections' ids are fixed by the first migration.
        self._ids: dict[str, int] = dict(STANDARD_COLLECTIONS)
        self._names: dict[int, str] = {cid: name for name, cid in STANDARD_COLLECTIONS.items()}
        self._ids_lock = threading.Lock()
        self._selection = Selection(self._mysql, engine.dialect.paramstyle)
        self._build_statements()

    # -- prebuilt statements -------------------------------------------------
    def _build_statements(self) -> None:
        uc = self.schema.user_collections
        key = (uc.c.userid == bindparam("uid")) & (uc.c.collectionid == bindparam("cid"))
        self._uc_lock = sa.select(uc.c.modified, uc.c.count, uc.c.bytes, uc.c.min_ttl).where(key).with_for_update()
        self._uc_lock_user = sa.select(uc.c.collectionid).where(uc.c.userid == bindparam("uid")).with_for_update()
        self._uc_read = sa.select(uc.c.collectionid, uc.c.modified, uc.c.count, uc.c.bytes, uc.c.min_ttl).where(
            uc.c.userid == bindparam("uid"))
        self._uc_modified = sa.select(uc.c.modified).where(key)
        if self._mysql:  # insert, or take the existing row's exclusive lock
            ins = mysql_dialect.insert(uc)
            self._uc_placeholder = ins.on_duplicate_key_update(userid=ins.inserted.userid)
        else:
            self._uc_placeholder = sqlite_dialect.insert(uc).on_conflict_do_nothing()
        m = self._selection.mark  # the totals' update runs on every write: driver SQL, parameters in this order
        self._uc_update = (f"UPDATE user_collections SET modified = {m}, count = {m}, bytes = {m}, min_ttl = {m} "
                           f"WHERE userid = {m} AND collectionid = {m}")
        self._uc_delete = uc.delete().where(key)
        self._uc_delete_user = uc.delete().where(uc.c.userid == bindparam("uid"))
        self._upsert = [self._build_upsert(t) for t in self.schema.wbo]
        self._lock_existing = [{detailed: self._build_lock_existing(t, detailed) for detailed in (False, True)}
                               for t in self.schema.wbo]
        ru = self.schema.retired_users
        self._retire = self._insert_ignore(ru).values(userid=bindparam("uid"), retired=bindparam("now"))

    def _build_lock_existing(self, table: sa.Table, detailed: bool) -> str:
        """The locking read of _lock_with_existing for one shard, as driver SQL with an
        ``{ids}`` slot for the marks of the ids (parameters: the ids, then uid and cid).
        The collection's totals, whether the user was retired, and of the ids either each
        existing one's id and size (``detailed``) or how many exist and their bytes.
        Driver SQL: through SQLAlchemy, expanding 100 ids cost a tenth of a write."""
        w = table.name
        totals = "uc.modified, uc.count, uc.bytes, uc.min_ttl, ru.userid"
        if detailed:
            columns, grouping = f"{totals}, {self._selection.readable('w.id')}, w.payload_size", ""
        else:
            columns, grouping = f"{totals}, COUNT(w.id), COALESCE(SUM(w.payload_size), 0)", f" GROUP BY {totals}"
        m = self._selection.mark
        return (f"SELECT {columns} FROM user_collections uc "
                f"LEFT OUTER JOIN {w} w ON w.userid = uc.userid AND w.collectionid = uc.collectionid "
                "AND w.id IN ({ids}) "
                "LEFT OUTER JOIN retired_users ru ON ru.userid = uc.userid "
                f"WHERE uc.userid = {m} AND uc.collectionid = {m}{grouping}"
                + (" FOR UPDATE" if self._mysql else ""))  # SQLite: the transaction's BEGIN IMMEDIATE

    def _build_upsert(self, table: sa.Table) -> str:
        """The write's upsert as the driver's own SQL with positional parameters (UPSERT_COLUMNS
        in order): executemany then hands the rows to the driver as they are, instead of
        SQLAlchemy processing every parameter of every row (a third of a 100-record write's
        CPU).  The driver still escapes or binds every value."""
        columns, values = ", ".join(UPSERT_COLUMNS), self._selection.marks(len(UPSERT_COLUMNS))
        if self._mysql:
            update = ", ".join(f"{c} = VALUES({c})" for c in REPLACED_COLUMNS)
            return f"INSERT INTO {table.name} ({columns}) VALUES ({values}) ON DUPLICATE KEY UPDATE {update}"
        update = ", ".join(f"{c} = excluded.{c}" for c in REPLACED_COLUMNS)
        return (f"INSERT INTO {table.name} ({columns}) VALUES ({values}) "
                f"ON CONFLICT (userid, collectionid, id) DO UPDATE SET {update}")

    # -- transactions ----------------------------------------------------------
    def _run(self, work: Callable[[sa.Connection], T], write: bool = False) -> T:
        try:
            return run_in_transaction(self.engine, work, write)
        except exc.IntegrityError as error:
            raise StorageConflict(str(error.orig)) from error

    # -- collection names --------------------------------------------------------
    def _collection_id(self, name: str, create: bool) -> int | None:
        """The id of a collection name; with ``create``, allocate it if needed.

        Allocation commits on its own (insert-if-absent, then read), so a cached
        id always names a committed row even if the caller's write rolls back.
        """
        cid = self._ids.get(name)
        if cid is not None:
            return cid
        table = self.schema.collections
        select = sa.select(table.c.collectionid).where(table.c.name == name)

        def lookup(conn):
            found = conn.execute(select).scalar()
            if found is None and create:
                conn.execute(self._insert_ignore(table).values(name=name))
                found = conn.execute(select).scalar()
            return found

        cid = self._run(lookup, write=create)
        if cid is not None:
            with self._ids_lock:
                self._ids[name] = cid
                self._names[cid] = name
        return cid

    def collection_id(self, name: str, create: bool = False) -> int | None:
        """The id of a collection name in this database (ids of custom names differ between databases)."""
        return self._collection_id(name, create)

    def collection_names(self, cids) -> dict[int, str]:
        return self._run(lambda conn: self._collection_names(conn, cids))

    def _insert_ignore(self, table: sa.Table):
        if self._mysql:
            return table.insert().prefix_with("IGNORE")
        return sqlite_dialect.insert(table).on_conflict_do_nothing()

    def _collection_names(self, conn: sa.Connection, cids) -> dict[int, str]:
        missing = [cid for cid in cids if cid not in self._names]
        if missing:
            table = self.schema.collections
            rows = conn.execute(sa.select(table.c.collectionid, table.c.name).where(table.c.collectionid.in_(missing)))
            with self._ids_lock:
                for cid, name in rows:
                    self._names[cid] = name
                    self._ids[name] = cid
        return {cid: self._names[cid] for cid in cids}

    # -- info/* ------------------------------------------------------------------
    def get_collection_timestamps(self, userid: int) -> dict[str, int]:
        return {name: totals.modified for name, totals in self.get_collection_totals(userid).items()}

    def get_collection_totals(self, userid: int) -> dict[str, CollectionTotals]:
        def work(conn):
            rows = conn.execute(self._uc_read, {"uid": userid}).all()
            names = self._collection_names(conn, [r.collectionid for r in rows])
            return {names[r.collectionid]: CollectionTotals(r.modified, r.count, r.bytes, r.min_ttl) for r in rows}
        return self._run(work)

    def get_live_totals(self, userid: int, collection: str, ts: int) -> tuple[int, int]:
        cid = self._collection_id(collection, create=False)
        if cid is None:
            return 0, 0
        return self._run(lambda conn: self._count_live(conn, userid, cid, to_seconds(ts)))

    def _count_live(self, conn, userid: int, cid: int, now: int) -> tuple[int, int]:
        c = self.schema.wbo_for(userid).c
        count, size = conn.execute(sa.select(func.count(), func.coalesce(func.sum(c.payload_size), 0)).where(
            c.userid == userid, c.collectionid == cid, c.ttl > now)).one()
        return int(count), int(size)

    def _live_stats(self, userid: int, ts: int) -> dict[str, tuple[int, int]]:
        """{collection: (live count, live bytes)}, recounting where rows may have expired."""
        now = to_seconds(ts)

        def work(conn):
            rows = conn.execute(self._uc_read, {"uid": userid}).all()
            names = self._collection_names(conn, [r.collectionid for r in rows])
            stats = {}
            for row in rows:
                count, size = row.count, row.bytes
                if row.min_ttl <= now:
                    count, size = self._count_live(conn, userid, row.collectionid, now)
                if count:
                    stats[names[row.collectionid]] = (int(count), int(size))
            return stats
        return self._run(work)

    def get_collection_counts(self, userid: int, ts: int) -> dict[str, int]:
        return {name: count for name, (count, _) in self._live_stats(userid, ts).items()}

    def get_collection_usage(self, userid: int, ts: int) -> dict[str, int]:
        return {name: size for name, (_, size) in self._live_stats(userid, ts).items()}

    def get_total_size(self, userid: int, ts: int) -> int:
        return sum(size for _, size in self._live_stats(userid, ts).values())

    def get_collection_timestamp(self, userid: int, collection: str) -> int | None:
        cid = self._collection_id(collection, create=False)
        if cid is None:
            return None
        return self._run(lambda conn: conn.execute(self._uc_modified, {"uid": userid, "cid": cid}).scalar())

    # -- reads ---------------------------------------------------------------------
    def get_items(self, userid: int, collection: str, query: ItemQuery, ts: int, full: bool) -> list:
        cid = self._collection_id(collection, create=False)
        found = None if cid is None else self._selection.select(self.schema.wbo_for(userid).name, userid, cid, query,
                                                                 to_seconds(ts), full)
        if found is None:
            return []
        sql, params = found

        def work(conn):
            # The driver's own tuples: SQLAlchemy's Row objects for 100 records cost more
            # than the statement's execution (docs/benchmarks.md §1.2).
            result = conn.exec_driver_sql(sql, tuple(params))
            rows = result.cursor.fetchall()
            result.close()
            return Selection.records(rows) if full else [row[0] for row in rows]
        return self._run(work)

    def get_item(self, userid: int, collection: str, item_id: str, ts: int):
        items = self.get_items(userid, collection, ItemQuery(ids=[item_id]), ts, full=True)
        return items[0] if items else None

    # -- writes --------------------------------------------------------------------
    def _lock(self, conn, userid: int, cid: int):
        """Lock the collection's row and return it (None when the collection holds nothing)."""
        return conn.execute(self._uc_lock, {"uid": userid, "cid": cid}).one_or_none()

    def _lock_with_existing(self, conn, table, userid: int, cid: int, ids: list[str], detailed: bool):
        """Lock the collection's row and the records ``ids`` in one statement.

        Returns (totals row or None, what of ``ids`` exists): a write needs both, and
        one round trip instead of two is a quarter of a write's statements.  With
        ``detailed`` the sizes of the existing records one by one (metadata-only
        writes need to know which exist); otherwise only how many exist and their
        bytes, one row instead of one per record.  The same statement reads, after
        the collection's row lock, whether the user was retired (retire_user): a
        retirement committed before is seen here, and one still running makes this
        read wait for it, so UserRetired is raised instead of writing for a deleted
        account."""
        sql = self._lock_existing[self.schema.wbo.index(table)][detailed]
        exact = self._selection.exact
        params = (*(exact(i) for i in ids), userid, cid)
        rows = conn.exec_driver_sql(sql.replace("{ids}", self._selection.marks(len(ids))), params).all()
        if not rows:
            return None, Existing(0, 0, {} if detailed else None)
        modified, count, size, min_ttl, retired = rows[0][:5]
        if retired is not None:
            raise UserRetired(userid)
        state = CollectionTotals(modified, count, size, min_ttl)
        if not detailed:
            return state, Existing(int(rows[0][5]), int(rows[0][6]), None)  # MySQL SUM() is a Decimal
        sizes = {row[5]: row[6] for row in rows if row[5] is not None}
        return state, Existing(len(sizes), sum(sizes.values()), sizes)

    def _recount(self, conn, table, userid: int, cid: int):
        """Recompute the collection's totals from its rows; return them, or None if empty."""
        c = table.c
        count, size, min_ttl, modified = conn.execute(
            sa.select(func.count(), func.coalesce(func.sum(c.payload_size), 0), func.min(c.ttl),
                      func.max(c.modified)).where(c.userid == userid, c.collectionid == cid)).one()
        if not count:
            conn.execute(self._uc_delete, {"uid": userid, "cid": cid})
            return None
        totals = CollectionTotals(int(modified), int(count), int(size), int(min_ttl))  # MySQL SUM() is a Decimal
        conn.exec_driver_sql(self._uc_update, (*totals, userid, cid))
        return totals

    def _purge_expired_rows(self, conn, table, userid: int, cid: int, now: int) -> int:
        """Delete the collection's rows expired at ``now`` (seconds); return how many went.
        The caller holds the collection's lock and recounts."""
        c = table.c
        return conn.execute(table.delete().where(c.userid == userid, c.collectionid == cid, c.ttl <= now)).rowcount

    def _lock_live(self, conn, table, userid: int, cid: int, ts: int, if_unmodified_since: int | None):
        """Lock the collection, check the precondition, purge expired rows; return its totals."""
        state = self._lock(conn, userid, cid)
        if state is None or state.count == 0:
            return state
        if if_unmodified_since is not None and state.modified > if_unmodified_since:
            raise CollectionChanged()
        if state.min_ttl <= to_seconds(ts):
            self._purge_expired_rows(conn, table, userid, cid, to_seconds(ts))
            state = self._recount(conn, table, userid, cid)
        return state

    def set_items(self, userid: int, collection: str, items: Sequence[WBO], ts: int,
                  if_unmodified_since: int | None = None) -> WriteResult:
        latest = {item.id: item for item in items}  # later duplicates win
        if not latest:
            return WriteResult(ts)
        cid = self._collection_id(collection, create=True)
        table = self.schema.wbo_for(userid)
        return self._run(lambda conn: self._write(conn, table, userid, cid, latest, ts, if_unmodified_since),
                         write=True)

    def _write(self, conn, table, userid: int, cid: int, latest: dict[str, WBO], ts: int,
               if_unmodified_since: int | None) -> WriteResult:
        """One write transaction (module docstring): lock, check, upsert, keep the totals exact."""
        detailed = any(item.payload is None for item in latest.values())
        state, existing = self._lock_for_write(conn, table, userid, cid, list(latest), ts, if_unmodified_since,
                                               detailed)
        modified = max(ts, state.modified + 1)
        rows, missing, totals = self._apply(conn, table, userid, cid, latest, state, existing, modified,
                                            to_seconds(ts))
        if rows:
            conn.exec_driver_sql(self._upsert[self.schema.wbo.index(table)], rows)
        if state.count == 0 and not rows:
            conn.execute(self._uc_delete, {"uid": userid, "cid": cid})  # the placeholder
            return WriteResult(ts, missing, None)
        if rows or totals.min_ttl != state.min_ttl:
            conn.exec_driver_sql(self._uc_update, (*totals, userid, cid))
        return WriteResult(modified if rows else ts, missing, totals)

    def _lock_for_write(self, conn, table, userid: int, cid: int, ids: list[str], ts: int,
                        if_unmodified_since: int | None, detailed: bool):
        """The collection's totals and the sizes of the records ``ids``, under the collection's
        lock, after the precondition and with expired rows purged; a new collection gets a
        placeholder row (count 0, never committed as such) that carries the lock."""
        state, existing = self._lock_with_existing(conn, table, userid, cid, ids, detailed)
        if state is not None and state.count:
            if if_unmodified_since is not None and state.modified > if_unmodified_since:
                raise CollectionChanged()
            if state.min_ttl <= to_seconds(ts):  # some records expired: purge them so the totals stay exact
                self._purge_expired_rows(conn, table, userid, cid, to_seconds(ts))
                self._recount(conn, table, userid, cid)
                state, existing = self._lock_with_existing(conn, table, userid, cid, ids, detailed)
        if state is None:
            # A locking read of a missing row locks nothing under READ COMMITTED, so
            # concurrent first writers would otherwise race on the records.
            conn.execute(self._uc_placeholder, {"userid": userid, "collectionid": cid, "modified": 0,
                                                "count": 0, "bytes": 0, "min_ttl": NO_EXPIRY})
            state, existing = self._lock_with_existing(conn, table, userid, cid, ids, detailed)
        return state, existing

    def _apply(self, conn, table, userid: int, cid: int, latest: dict[str, WBO], state: CollectionTotals,
               existing: "Existing", modified: int, now: int):
        """The rows to upsert, the ids of metadata-only writes to missing records, and the
        collection's totals after the write.  Metadata-only writes are executed here."""
        c = table.c
        count, size, min_ttl = state.count, state.bytes, state.min_ttl
        rows, missing = [], []
        for item in latest.values():
            expiry = NO_EXPIRY if item.ttl is None else now + item.ttl
            if item.payload is None:
                if item.id not in existing.sizes:
                    missing.append(item.id)
                    continue
                changes = item.given_metadata()
                if "ttl" in changes:
                    changes["ttl"] = expiry
                    min_ttl = min(min_ttl, expiry)
                if changes:  # an item with neither payload nor metadata changes nothing
                    conn.execute(table.update().where(
                        c.userid == userid, c.collectionid == cid, c.id == item.id).values(**changes))
                continue
            new_size = item.payload_size
            if existing.sizes is None:  # counted below from the sums
                size += new_size
            elif item.id in existing.sizes:
                size += new_size - existing.sizes[item.id]
            else:
                count, size = count + 1, size + new_size
            min_ttl = min(min_ttl, expiry)
            rows.append((userid, cid, item.id, item.sortindex, modified, item.payload, new_size, expiry,
                         item.parentid, item.predecessorid))  # UPSERT_COLUMNS
        if existing.sizes is None:  # every item has a payload: each either replaces a record or adds one
            count += len(rows) - existing.count
            size -= existing.bytes
        totals = CollectionTotals(modified if rows else state.modified, count, size, min_ttl)
        return rows, missing, totals

    def delete_items(self, userid: int, collection: str, query: ItemQuery, ts: int,
                     if_unmodified_since: int | None = None) -> CollectionTotals | None:
        cid = self._collection_id(collection, create=False)
        if cid is None:
            return None
        table = self.schema.wbo_for(userid)
        c = table.c
        where = self._selection.where(userid, cid, query)

        def work(conn):
            state = self._lock_live(conn, table, userid, cid, ts, if_unmodified_since)
            if state is None or where is None:
                return CollectionTotals(*state) if state is not None else None
            if query.selects_all:
                conn.execute(table.delete().where(c.userid == userid, c.collectionid == cid))
                conn.execute(self._uc_delete, {"uid": userid, "cid": cid})
                return None
            if query.limit is not None and query.limit > 0:
                sql, params = self._selection.select(table.name, userid, cid, query, to_seconds(ts), full=False)
                ids = [row[0] for row in conn.exec_driver_sql(sql, tuple(params))]
                for start in range(0, len(ids), DELETE_CHUNK):
                    conn.execute(table.delete().where(c.userid == userid, c.collectionid == cid,
                                                      c.id.in_(ids[start:start + DELETE_CHUNK])))
            else:
                conn.exec_driver_sql(f"DELETE FROM {table.name} WHERE {where[0]}", tuple(where[1]))
            state = self._recount(conn, table, userid, cid)
            return CollectionTotals(*state) if state is not None else None

        return self._run(work, write=True)

    def delete_storage(self, userid: int) -> None:
        self._run(lambda conn: self._delete_user_rows(conn, userid), write=True)

    def _delete_user_rows(self, conn, userid: int) -> None:
        """Lock the user's collections, then delete their records and totals (in ``conn``'s transaction)."""
        table = self.schema.wbo_for(userid)
        conn.execute(self._uc_lock_user, {"uid": userid}).all()
        conn.execute(table.delete().where(table.c.userid == userid))
        conn.execute(self._uc_delete_user, {"uid": userid})

    def retire_user(self, userid: int, now: int) -> None:
        """Retire the id first, then lock and delete the user's rows, in one transaction.

        A writer checks for the retirement after taking its collection's row lock
        (set_items): whichever order the two meet in, the writer either fails or
        commits before the deletion reads the rows it then deletes."""
        table = self.schema.wbo_for(userid)

        def work(conn):
            conn.execute(self._retire, {"uid": userid, "now": now})
            conn.execute(self._uc_lock_user, {"uid": userid}).all()
            conn.execute(table.delete().where(table.c.userid == userid))
            conn.execute(self._uc_delete_user, {"uid": userid})

        for attempt in range(1, RETIRE_ATTEMPTS + 1):
            try:
                return self._run(work, write=True)
            except BackendError:
                if attempt == RETIRE_ATTEMPTS:
                    raise

    # -- maintenance -----------------------------------------------------------------
    def purge_expired(self, ts: int, max_rows: int, touched: set | None = None) -> int:
        """Purge collection by collection, each in its own short write transaction;
        the user ids whose totals changed are added to ``touched``."""
        now = to_seconds(ts)
        purged = 0
        for table in self.schema.wbo:
            c = table.c
            expired = sa.select(c.userid, c.collectionid).where(c.ttl <= now).distinct().limit(max(1, max_rows))
            for userid, cid in self._run(lambda conn, stmt=expired: conn.execute(stmt).all()):
                purged += self._run(lambda conn, u=userid, k=cid, t=table: self._purge_collection(conn, t, u, k, now),
                                    write=True)
                if touched is not None:
                    touched.add(userid)
                if purged >= max_rows:
                    return purged
        return purged

    def _purge_collection(self, conn, table, userid: int, cid: int, now: int) -> int:
        """Delete one collection's expired rows under its lock and recount it; return the rows removed."""
        state = self._lock(conn, userid, cid)
        removed = self._purge_expired_rows(conn, table, userid, cid, now)
        if state is not None:
            self._recount(conn, table, userid, cid)
        return removed

    def close(self) -> None:
        self.engine.dispose()

    def check(self) -> None:
        self._run(lambda conn: conn.execute(sa.text("SELECT 1")).scalar())
