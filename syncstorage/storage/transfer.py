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

import sqlalchemy as sa

from .sql import SQLStorage

COLUMNS = ("id", "sortindex", "modified", "payload", "payload_size", "ttl", "parentid", "predecessorid")
TOTALS = ("modified", "count", "bytes", "min_ttl")


class CopyMismatch(Exception):
    """The copy differs from the source (the source changed meanwhile, or a write failed)."""


def fingerprint(store: SQLStorage, userid: int) -> dict[str, tuple]:
    """``{collection name: (modified, count, bytes, min_ttl, rows, sum of payload sizes, max modified)}``."""
    uc, wbo = store.schema.user_collections, store.schema.wbo_for(userid)
    totals_stmt = sa.select(uc.c.collectionid, *(uc.c[name] for name in TOTALS)).where(uc.c.userid == userid)
    rows_stmt = sa.select(wbo.c.collectionid, sa.func.count(), sa.func.sum(wbo.c.payload_size),
                          sa.func.max(wbo.c.modified)).where(wbo.c.userid == userid).group_by(wbo.c.collectionid)

    def work(conn):
        return conn.execute(totals_stmt).all(), conn.execute(rows_stmt).all()
    totals, aggregates = store._run(work)
    per_cid: dict[int, list] = {row[0]: list(row[1:]) + [0, 0, None] for row in totals}
    for cid, count, size, newest in aggregates:
        per_cid.setdefault(cid, [None] * len(TOTALS) + [0, 0, None])[len(TOTALS):] = [count, int(size or 0), newest]
    names = store.collection_names(list(per_cid))
    return {names[cid]: tuple(values) for cid, values in per_cid.items()}


def copy_user(source: SQLStorage, target: SQLStorage, userid: int, batch_size: int = 500) -> int:
    """Replace the user's data in ``target`` with a copy of it in ``source``; return the rows copied.

    Verifies the copy against the source and raises CopyMismatch if they differ.
    """
    target.delete_storage(userid)  # leftovers of an earlier stay or an interrupted move
    uc_src, wbo_src = source.schema.user_collections, source.schema.wbo_for(userid)
    uc_dst, wbo_dst = target.schema.user_collections, target.schema.wbo_for(userid)
    totals = source._run(lambda conn: conn.execute(
        sa.select(uc_src.c.collectionid, *(uc_src.c[name] for name in TOTALS)).where(uc_src.c.userid == userid)).all())
    names = source.collection_names([row[0] for row in totals])
    copied = 0
    for row in totals:
        cid_src, cid_dst = row[0], target.collection_id(names[row[0]], create=True)
        after = ""
        while True:
            page = source._run(lambda conn, a=after, c=cid_src: conn.execute(
                sa.select(*(wbo_src.c[name] for name in COLUMNS))
                .where(wbo_src.c.userid == userid, wbo_src.c.collectionid == c, wbo_src.c.id > a)
                .order_by(wbo_src.c.id).limit(batch_size)).all())
            if not page:
                break
            values = [{"userid": userid, "collectionid": cid_dst, **dict(zip(COLUMNS, r))} for r in page]
            target._run(lambda conn, v=values: conn.execute(wbo_dst.insert(), v), write=True)
            copied += len(page)
            after = page[-1][0]
        target._run(lambda conn, r=row, c=cid_dst: conn.execute(uc_dst.insert().values(
            userid=userid, collectionid=c, **dict(zip(TOTALS, r[1:])))), write=True)
    expected, got = fingerprint(source, userid), fingerprint(target, userid)
    if expected != got:
        raise CopyMismatch(f"user {userid}: source {expected} != copy {got}")
    return copied
