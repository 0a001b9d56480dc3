"""Export and import of a user's records, every column as stored: what moves between
databases (storage/transfer.py) are made of.  A part of SQLStorage (a mixin): it uses
the store's transactions and collection ids."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import func

from syncstorage.storage.base import CollectionTotals


class RecordExport:
    RECORD_COLUMNS = ("id", "sortindex", "modified", "payload", "payload_size", "ttl", "parentid", "predecessorid")

    def export_records(self, userid: int, collection: str, after: str, limit: int) -> list[dict]:
        """Up to ``limit`` of the collection's records with ids after ``after``, in id
        order, every column as stored (expired ones too)."""
        cid = self._collection_id(collection, create=False)
        if cid is None:
            return []
        c = self.schema.wbo_for(userid).c
        stmt = (sa.select(*(c[name] for name in self.RECORD_COLUMNS))
                .where(c.userid == userid, c.collectionid == cid, c.id > after).order_by(c.id).limit(limit))
        return [dict(row._mapping) for row in self._run(lambda conn: conn.execute(stmt).all())]

    def import_batch(self, userid: int, records: dict[str, list[dict]], totals: dict[str, CollectionTotals],
                     replace: bool = False) -> None:
        """In one transaction: with ``replace`` first delete all of the user's data, then insert
        ``records`` per collection (their ids must be new here) and record ``totals`` of
        collections whose last records these are (moves between nodes, imports)."""
        cids = {name: self._collection_id(name, create=True) for name in {*records, *totals}}
        table, uc = self.schema.wbo_for(userid), self.schema.user_collections

        def work(conn):
            if replace:
                self._delete_user_rows(conn, userid)
            rows = [{"userid": userid, "collectionid": cids[name], **record}
                    for name, items in records.items() for record in items]
            if rows:
                conn.execute(table.insert(), rows)
            if totals:
                conn.execute(uc.insert(), [{"userid": userid, "collectionid": cids[name], **t._asdict()}
                                           for name, t in totals.items()])
        self._run(work, write=True)

    def fingerprint(self, userid: int) -> dict[str, tuple]:
        """``{collection: (modified, count, bytes, min_ttl, rows, sum of payload sizes, max modified)}``:
        the recorded totals beside what the rows themselves add up to."""
        uc, wbo = self.schema.user_collections, self.schema.wbo_for(userid)
        totals_stmt = sa.select(uc.c.collectionid, uc.c.modified, uc.c.count, uc.c.bytes, uc.c.min_ttl).where(
            uc.c.userid == userid)
        rows_stmt = sa.select(wbo.c.collectionid, func.count(), func.sum(wbo.c.payload_size),
                              func.max(wbo.c.modified)).where(wbo.c.userid == userid).group_by(wbo.c.collectionid)

        def work(conn):
            return conn.execute(totals_stmt).all(), conn.execute(rows_stmt).all()
        totals, aggregates = self._run(work)
        per_cid: dict[int, list] = {row[0]: list(row[1:]) + [0, 0, None] for row in totals}
        for cid, count, size, newest in aggregates:
            per_cid.setdefault(cid, [None] * 4 + [0, 0, None])[4:] = [count, int(size or 0), newest]
        names = self.collection_names(list(per_cid))
        return {names[cid]: tuple(values) for cid, values in per_cid.items()}
