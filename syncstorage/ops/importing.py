"""``syncstorage import weave-minimal DATA_DIR`` and ``syncstorage import fsyncms SQLURI``:
run the import (services/imports) and print its summary.

stdout: one line per account (how it ended, its collections, records, bytes and
newest record), the collections that differ between source and target and the
account's problems beneath it, then the totals.  ``--report FILE`` writes the
whole comparison, one row per account and collection, as tab-separated text.
Exit status 0 when every account matches its source, 1 when any differs or has
a problem, 2 when the source cannot be read at all.
"""
from __future__ import annotations

import csv
import sys
from datetime import datetime, timezone

from syncstorage.services.imports.importer import (FAILED, KEPT, AccountResult, ImportReport, Progress, Totals,
                                                   import_accounts)
from syncstorage.services.imports.sources import BadSource


def open_source(kind: str, location: str):
    if kind == "weave-minimal":
        from syncstorage.services.imports.weave_minimal import WeaveMinimalSource

        return WeaveMinimalSource(location)
    from syncstorage.services.imports.fsyncms import FSyncMSSource

    return FSyncMSSource(location)


def run(services, kind: str, location: str, *, dry_run: bool, replace: bool, report_file: str | None,
        out=sys.stdout, err=sys.stderr) -> int:
    try:
        source = open_source(kind, location)
    except BadSource as error:
        print(f"syncstorage: {error}", file=err)
        return 2
    try:
        report = import_accounts(services, source, dry_run=dry_run, replace=replace, progress=Progress(0, err))
    finally:
        source.close()
    for line in render(report):
        print(line, file=out)
    if report_file:
        write_table(report, report_file)
    return 0 if report.ok else 1


def _when(centis: int) -> str:
    if not centis:
        return "-"
    return datetime.fromtimestamp(centis / 100, timezone.utc).strftime("%Y-%m-%d %H:%M:%S.") + f"{centis % 100:02d}"


def _describe(totals: Totals | None) -> str:
    if totals is None:
        return "nothing"
    return f"{totals.records:,} records, {totals.bytes:,} bytes, newest {_when(totals.newest)}"


def render(report: ImportReport) -> list[str]:
    lines = [f"source problem: {problem}" for problem in report.problems]
    for result in report.accounts:
        lines.append(_account_line(result))
        for name in result.differing:
            lines.append(f"    {name}: source {_describe(result.source.get(name))}; "
                         f"here {_describe((result.target or {}).get(name))}")
        lines += [f"    problem: {problem}" for problem in result.problems]
    n = len(report.accounts)
    matching = sum(1 for r in report.accounts if r.ok)
    rate = report.records_written / report.seconds if report.seconds > 0 else 0.0
    verb = "would import" if report.dry_run else "imported"
    lines.append(
        f"{n} accounts from {report.kind}: {matching} {'ready' if report.dry_run else 'matching the source'}, "
        f"{n - matching} not; {verb} {report.count('would import' if report.dry_run else 'imported')}, "
        f"unchanged {report.count('unchanged')}, kept {report.count(KEPT)}, failed {report.count(FAILED)}; "
        f"{sum(r.records for r in report.accounts):,} records in the source; "
        f"{report.records_written:,} records written in {report.seconds:.1f} s ({rate:,.0f} records/s)")
    return lines


def _account_line(result: AccountResult) -> str:
    mark = "ok" if result.ok else "DIFFERS" if result.differing else "PROBLEM"
    return (f"{mark:<8} {result.username}  {result.status}: {len(result.source)} collections, "
            f"{result.records:,} records, {result.bytes:,} bytes, newest "
            f"{_when(max((t.newest for t in result.source.values()), default=0))}")


def write_table(report: ImportReport, path: str) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle, delimiter="\t", lineterminator="\n")
        out.writerow(["account", "status", "collection", "source_records", "source_bytes", "source_newest",
                      "target_records", "target_bytes", "target_newest", "same"])
        for result in report.accounts:
            target = result.target or {}
            for name in sorted(set(result.source) | set(target)) or [""]:
                s, t = result.source.get(name), target.get(name)
                out.writerow([result.username, result.status, name,
                              *(_cells(s)), *(_cells(t) if result.target is not None else ["", "", ""]),
                              "" if result.target is None else "yes" if s == t else "no"])


def _cells(totals: Totals | None) -> list:
    if totals is None:
        return [0, 0, ""]
    return [totals.records, totals.bytes, f"{totals.newest / 100:.2f}"]
