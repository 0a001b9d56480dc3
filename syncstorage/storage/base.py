"""The storage backend interface: what the views may ask of a record store.

Times are integer centiseconds (see timestamps.py).  ``ts`` is the request's
server time; "live" means expiry (whole seconds) after ``to_seconds(ts)``.
Every backend passes the contract tests in storage/testing.py.

Errors: :class:`CollectionChanged` (-> 412), :class:`StorageConflict`
(-> 400 ``4``) and :class:`~syncstorage.infra.dbengine.BackendError` (-> 503).
"""
from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import NamedTuple, Sequence

from syncstorage.infra.dbengine import BackendError
from syncstorage.wire.wbo import WBO

__all__ = ["BackendError", "CollectionChanged", "StorageConflict", "ItemQuery", "Record", "CollectionTotals",
           "WriteResult", "Storage", "UserRetired"]

SORTS = ("oldest", "newest", "index")


class CollectionChanged(Exception):
    """The collection timestamp is above the caller's X-If-Unmodified-Since."""


class StorageConflict(Exception):
    """The write hit a uniqueness conflict it could not resolve."""


class UserRetired(Exception):
    """The user's account was deleted: nothing may be written for its id any more."""


class Record(NamedTuple):
    """A stored record as read back (get_items with ``full``, get_item)."""

    id: str
    modified: int
    payload: str
    sortindex: int | None
    parentid: str | None
    predecessorid: str | None


@dataclass
class ItemQuery:
    """Selection of spec §3.5.1; every given condition must hold."""

    ids: Sequence[str] | None = None
    parentid: str | None = None
    predecessorid: str | None = None
    older: int | None = None
    newer: int | None = None
    index_above: float | None = None
    index_below: float | None = None
    limit: int | None = None      # None or <= 0: no limit
    offset: int | None = None     # used only with a positive limit
    sort: str | None = None       # one of SORTS, else unordered

    @property
    def selects_all(self) -> bool:
        return self == ItemQuery()


class CollectionTotals(NamedTuple):
    """One collection's row of ``user_collections``: what info/* is computed from."""

    modified: int
    count: int
    bytes: int
    min_ttl: int


@dataclass
class WriteResult:
    """``modified``: the timestamp the write used (may exceed ``ts`` to keep the
    collection's timestamps strictly increasing).  ``missing``: ids of
    metadata-only items that had no live record and were not written.
    ``totals``: the collection's totals once committed (None: it holds nothing)."""

    modified: int
    missing: list[str] = field(default_factory=list)
    totals: CollectionTotals | None = None


class Storage(abc.ABC):
    """A user's collections of records.  All methods are safe to call from many threads."""

    # -- info/* ------------------------------------------------------------
    @abc.abstractmethod
    def get_collection_timestamps(self, userid: int) -> dict[str, int]:
        """{collection: timestamp} for every collection holding a stored item."""

    @abc.abstractmethod
    def get_collection_counts(self, userid: int, ts: int) -> dict[str, int]:
        """{collection: number of live items} for collections with at least one."""

    @abc.abstractmethod
    def get_collection_usage(self, userid: int, ts: int) -> dict[str, int]:
        """{collection: payload bytes of live items} for collections with live items."""

    @abc.abstractmethod
    def get_total_size(self, userid: int, ts: int) -> int:
        """Payload bytes of all the user's live items (quota usage)."""

    @abc.abstractmethod
    def get_collection_timestamp(self, userid: int, collection: str) -> int | None:
        """The collection's timestamp, or None when it holds nothing."""

    # -- records -----------------------------------------------------------
    @abc.abstractmethod
    def get_items(self, userid: int, collection: str, query: ItemQuery, ts: int, full: bool) -> list:
        """Live items matching ``query``: Records when ``full``, else ids."""

    @abc.abstractmethod
    def get_item(self, userid: int, collection: str, item_id: str, ts: int) -> Record | None:
        """One live item, or None."""

    @abc.abstractmethod
    def set_items(self, userid: int, collection: str, items: Sequence[WBO], ts: int,
                  if_unmodified_since: int | None = None) -> WriteResult:
        """Write ``items`` in one transaction (spec §2.2); later duplicates win.

        Items with a payload replace the stored record; items without one
        update the metadata of a live record or are reported in ``missing``.
        Raises CollectionChanged when the collection timestamp exceeds
        ``if_unmodified_since`` (checked under the collection lock).
        """

    @abc.abstractmethod
    def delete_items(self, userid: int, collection: str, query: ItemQuery, ts: int,
                     if_unmodified_since: int | None = None) -> CollectionTotals | None:
        """Delete the items matching ``query`` (``sort`` decides what ``limit`` removes);
        return the collection's totals afterwards (None: it holds nothing)."""

    @abc.abstractmethod
    def get_collection_totals(self, userid: int) -> dict[str, CollectionTotals]:
        """{collection: totals} as stored, for every collection holding a stored item."""

    @abc.abstractmethod
    def get_live_totals(self, userid: int, collection: str, ts: int) -> tuple[int, int]:
        """(count, bytes) of the collection's live items, counted from the records."""

    @abc.abstractmethod
    def delete_storage(self, userid: int) -> None:
        """Delete every item and collection of the user."""

    @abc.abstractmethod
    def retire_user(self, userid: int, now: int) -> None:
        """Delete everything of a user whose account is being deleted, and refuse
        (UserRetired) every later write for that id, including writes already in
        flight: when this returns, no record of the user is stored and none can be."""

    # -- maintenance -------------------------------------------------------
    @abc.abstractmethod
    def purge_expired(self, ts: int, max_rows: int, touched: set | None = None) -> int:
        """Remove up to about ``max_rows`` expired rows; return how many went.
        The ids of users whose totals changed are added to ``touched``."""

    @abc.abstractmethod
    def check(self) -> None:
        """Raise BackendError if the store cannot answer a trivial query."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the store's connections (a command that ends, a test)."""
