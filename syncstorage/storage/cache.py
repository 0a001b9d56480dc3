"""The record store behind memcached: info/* and quota without SQL on a hit.

One entry per user, ``meta:<userid>``: ``{collection: [modified, count, bytes,
min_ttl]}``, i.e. the user's rows of ``user_collections``.  It answers
info/collections, collection_counts, collection_usage, quota, the quota check
of writes and the X-If-Unmodified-Since pre-check.  Counts of a collection
whose ``min_ttl`` has passed are recounted from SQL (records expired since).
Writes go through :meth:`CoherentCache.write`, which keeps the entry coherent
and patches it with the collection's row as the transaction committed it.
Record reads go to SQL, except a collection GET with ``newer`` the entry shows
has nothing to return (an empty collection, or nothing newer).
"""
from __future__ import annotations

from typing import Sequence

from syncstorage.infra.memcache import CoherentCache
from syncstorage.wire.wbo import WBO
from syncstorage.wire.timestamps import to_seconds
from syncstorage.storage.base import CollectionTotals, ItemQuery, Storage, WriteResult
from syncstorage.storage.sql import SQLStorage

_MODIFIED = CollectionTotals._fields.index("modified")  # its place in an entry's lists


class CachedStorage(Storage):
    def __init__(self, store: SQLStorage, cache: CoherentCache):
        self.store = store
        self.cache = cache

    @staticmethod
    def key(userid: int) -> str:
        return f"meta:{userid}"

    def _cached_totals(self, userid: int) -> dict[str, list]:
        """The user's CollectionTotals as the entry holds them: lists, in the fields' order."""
        def load():
            return {name: list(t) for name, t in self.store.get_collection_totals(userid).items()}
        return self.cache.read(self.key(userid), load, "meta")

    def get_collection_totals(self, userid: int) -> dict[str, CollectionTotals]:
        return {name: CollectionTotals(*t) for name, t in self._cached_totals(userid).items()}

    def get_live_totals(self, userid: int, collection: str, ts: int) -> tuple[int, int]:
        return self.store.get_live_totals(userid, collection, ts)

    def _live(self, userid: int, ts: int) -> dict[str, tuple[int, int]]:
        now = to_seconds(ts)
        live = {}
        for name, t in self.get_collection_totals(userid).items():
            count, size = (t.count, t.bytes) if t.min_ttl > now else self.store.get_live_totals(userid, name, ts)
            if count:
                live[name] = (count, size)
        return live

    def get_collection_timestamps(self, userid: int) -> dict[str, int]:
        # every info/collections asks: no CollectionTotals built to read one field
        return {name: t[_MODIFIED] for name, t in self._cached_totals(userid).items()}

    def get_collection_counts(self, userid: int, ts: int) -> dict[str, int]:
        return {name: count for name, (count, _) in self._live(userid, ts).items()}

    def get_collection_usage(self, userid: int, ts: int) -> dict[str, int]:
        return {name: size for name, (_, size) in self._live(userid, ts).items()}

    def get_total_size(self, userid: int, ts: int) -> int:
        return sum(size for _, size in self._live(userid, ts).values())

    def get_collection_timestamp(self, userid: int, collection: str) -> int | None:
        totals = self._cached_totals(userid).get(collection)
        return totals[_MODIFIED] if totals else None

    def get_items(self, userid: int, collection: str, query: ItemQuery, ts: int, full: bool) -> list:
        # A client asking what changed since its last sync often asks of a collection that did
        # not change: the entry (the user's user_collections rows, coherent, and usually
        # prefetched with the credentials) says so without a range read.  Other reads go to
        # SQL at once: where records are found, reading the entry first costs without saving.
        if query.newer is not None:
            modified = self.get_collection_timestamp(userid, collection)
            if modified is None or modified <= query.newer:
                return []  # no records, or none newer than the collection's last change
        return self.store.get_items(userid, collection, query, ts, full)

    def get_item(self, userid: int, collection: str, item_id: str, ts: int):
        return self.store.get_item(userid, collection, item_id, ts)

    @staticmethod
    def _row(collection: str, totals: CollectionTotals | None) -> dict:
        """The patch of a write to one collection: its row as committed, or gone."""
        return {"set": {collection: list(totals) if totals is not None else None}}

    def set_items(self, userid: int, collection: str, items: Sequence[WBO], ts: int,
                  if_unmodified_since: int | None = None) -> WriteResult:
        return self.cache.write(self.key(userid),
                                lambda: self.store.set_items(userid, collection, items, ts, if_unmodified_since),
                                lambda result: self._row(collection, result.totals))

    def delete_items(self, userid: int, collection: str, query: ItemQuery, ts: int,
                     if_unmodified_since: int | None = None) -> CollectionTotals | None:
        return self.cache.write(self.key(userid),
                                lambda: self.store.delete_items(userid, collection, query, ts, if_unmodified_since),
                                lambda totals: self._row(collection, totals))

    def delete_storage(self, userid: int) -> None:
        self.cache.write(self.key(userid), lambda: self.store.delete_storage(userid), lambda _: {"all": {}})

    def retire_user(self, userid: int, now: int) -> None:
        self.cache.write(self.key(userid), lambda: self.store.retire_user(userid, now), lambda _: {"all": {}})

    def purge_expired(self, ts: int, max_rows: int, touched: set | None = None) -> int:
        users: set[int] = set()
        purged = self.store.purge_expired(ts, max_rows, users)
        for userid in users:
            self.cache.invalidate(self.key(userid))
        if touched is not None:
            touched.update(users)
        return purged

    def invalidate(self, userid: int) -> None:
        """Forget the user's entry after its rows changed outside this class (a move between nodes)."""
        self.cache.invalidate(self.key(userid))

    def check(self) -> None:
        self.store.check()

    def close(self) -> None:
        self.store.close()
