"""Copying one user's records between two SQL stores (moving a user to another node).

The copy keeps every column as stored (ids, payloads, sortindex, ``modified``,
``ttl``), so clients see the same timestamps on the new node.  Collections are
matched by name: ids of custom collections differ between databases.  Rows
move in bounded batches, each its own short transaction, so that a large
account never holds a long lock on either database.  ``fingerprint`` is what
the copy is verified with: per collection, the recorded totals and timestamp
and what the rows themselves add up to.
"""
from __future__ import annotations

from syncstorage.storage.sql import SQLStorage


def sql_store(store) -> SQLStorage:
    """The SQL store under ``store`` (CachedStorage wraps one): copies bypass the cache."""
    return getattr(store, "store", store)


def forget(store, userid: int) -> None:
    """After rows changed under ``store``'s cache: drop what it remembers of the user."""
    if hasattr(store, "invalidate"):
        store.invalidate(userid)


class CopyMismatch(Exception):
    """The copy differs from the source (the source changed meanwhile, or a write failed)."""


def fingerprint(store: SQLStorage, userid: int) -> dict[str, tuple]:
    """What a copy is verified with (SQLStorage.fingerprint)."""
    return store.fingerprint(userid)


def copy_user(source: SQLStorage, target: SQLStorage, userid: int, batch_size: int = 500) -> int:
    """Replace the user's data in ``target`` with a copy of it in ``source``; return the rows copied.

    Verifies the copy against the source and raises CopyMismatch if they differ.
    """
    target.delete_storage(userid)  # leftovers of an earlier stay or an interrupted move
    copied = 0
    for collection, totals in source.get_collection_totals(userid).items():
        after = ""
        while True:
            page = source.export_records(userid, collection, after, batch_size)
            if not page:
                break
            target.import_batch(userid, {collection: page}, {})
            copied += len(page)
            after = page[-1]["id"]
        target.import_batch(userid, {}, {collection: totals})
    expected, got = fingerprint(source, userid), fingerprint(target, userid)
    if expected != got:
        raise CopyMismatch(f"user {userid}: source {expected} != copy {got}")
    return copied
