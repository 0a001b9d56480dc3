"""A query's selection of records (spec §3.5.1) as the driver's own SQL.

Record reads are the other hot path beside writes: built with SQLAlchemy's
expression language and read back as its rows, a GET of 100 records cost 13.3M
instructions, against 9.6M with the statement sent as driver SQL and the rows
read as plain tuples (docs/benchmarks.md §1.2).  So the shapes a selection can
take are written here once, for both dialects, with every value a bound
parameter (positional, in the driver's paramstyle).

On MySQL/MariaDB the text columns compared byte for byte are VARBINARY
(schema.ExactText): their parameters are sent as UTF-8 bytes, and they are read
back through ``CONVERT(... USING utf8mb4)`` so that the driver decodes them.
"""
from __future__ import annotations

import functools
from typing import Callable

from syncstorage.storage.base import ItemQuery, Record
from syncstorage.wire.wbo import valid_id

# Record._make without its Python frame and length check: a row per record of a GET.
_new_record = functools.partial(tuple.__new__, Record)

# Column names are qualified with the table's in ORDER BY: MySQL resolves a bare
# name to a select-list expression of that name before the column.
_ORDER = {
    "oldest": "{t}.modified ASC, {t}.id ASC",
    "newest": "{t}.modified DESC, {t}.id ASC",
    "index": "{t}.sortindex DESC, {t}.id ASC",  # DESC puts NULL sortindex last on both databases
}


class Selection:
    """Builds ``(sql, parameters)`` for one dialect; None where a query can match nothing."""

    def __init__(self, mysql: bool, paramstyle: str):
        self.mark = "?" if paramstyle in ("qmark", "numeric") else "%s"
        self.mysql = mysql
        self.exact: Callable[[str], str | bytes] = (lambda text: text.encode("utf-8")) if mysql else (lambda text: text)
        readable = self.readable
        self.id_column = readable("id")
        # Record's fields, in order.
        self.record_columns = ", ".join((self.id_column, "modified", "payload", "sortindex", readable("parentid"),
                                         readable("predecessorid")))

    def readable(self, column: str) -> str:
        """A byte-exact text column as the select list must name it to be read back as text."""
        return f"CONVERT({column} USING utf8mb4)" if self.mysql else column

    def marks(self, count: int) -> str:
        """``count`` parameter marks, comma-separated (an IN list)."""
        return ", ".join([self.mark] * count)

    def where(self, userid: int, cid: int, query: ItemQuery, live_at: int | None = None) -> tuple[str, list] | None:
        """The WHERE terms of ``query`` in one collection (records live at ``live_at`` seconds
        only, when given) and their parameters."""
        m = self.mark
        terms, params = [f"userid = {m}", f"collectionid = {m}"], [userid, cid]
        if query.ids is not None:
            # Only ids that could have been stored can match; anything else would
            # also be an illegal collation mix against the ASCII column on MySQL.
            ids = [self.exact(i) for i in query.ids if valid_id(i)]
            if not ids:
                return None
            terms.append(f"id IN ({self.marks(len(ids))})")
            params += ids
        for column, value in (("parentid", query.parentid), ("predecessorid", query.predecessorid)):
            if value is not None:
                terms.append(f"{column} = {m}")
                params.append(self.exact(value))
        for term, value in (("modified < ", query.older), ("modified > ", query.newer),
                            ("sortindex > ", query.index_above), ("sortindex < ", query.index_below)):
            if value is not None:
                terms.append(term + m)
                params.append(value)
        if live_at is not None:
            terms.append(f"ttl > {m}")
            params.append(live_at)
        return " AND ".join(terms), params

    def select(self, table: str, userid: int, cid: int, query: ItemQuery, live_at: int,
               full: bool) -> tuple[str, list] | None:
        """The live records ``query`` selects, ordered and limited: Record's columns when
        ``full``, else the id alone."""
        found = self.where(userid, cid, query, live_at)
        if found is None:
            return None
        terms, params = found
        sql = f"SELECT {self.record_columns if full else self.id_column} FROM {table} WHERE {terms}"
        if query.sort in _ORDER:
            sql += " ORDER BY " + _ORDER[query.sort].format(t=table)
        if query.limit is not None and query.limit > 0:
            sql += f" LIMIT {self.mark}"
            params.append(query.limit)
            if query.offset is not None and query.offset > 0:
                sql += f" OFFSET {self.mark}"
                params.append(query.offset)
        return sql, params

    @staticmethod
    def records(rows) -> list[Record]:
        """Rows of a full select as Records (the select names Record's fields, in order)."""
        return list(map(_new_record, rows))
