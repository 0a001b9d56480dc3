"""Moving users and their data from one storage node to another, while both serve.

Users move in batches.  For each batch:

1. mark the accounts *moving*: their storage requests get 503 + Retry-After
   on every node (clients back off and retry), other users are untouched;
2. wait ``settle`` seconds, so that writes that started before the mark
   have committed (longer than any write transaction, like [cache] write_grace);
3. per user: copy the rows to the target database in bounded batches and
   verify the copy (counts, bytes and timestamps per collection); a mismatch
   is retried, then the user is left where it was;
4. reassign the account to the target node (which ends the move) and only
   then delete the rows from the source.

With node checking on, clients still talking to the old node get 401 there
and re-discover their node (spec §5.4).  The source keeps the data until the
reassignment has committed, so an interruption at any step loses nothing:
running the command again finishes the job.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from syncstorage.services.root import Services
from syncstorage.storage.transfer import CopyMismatch, copy_user, forget, sql_store
from syncstorage.users.nodes import Node, NodeFull

COPY_ATTEMPTS = 3


@dataclass
class MoveReport:
    users: int = 0
    records: int = 0
    failed: list[str] = field(default_factory=list)


def move_users(services: Services, source: Node, target: Node, count: int | None = None, batch: int = 100,
               settle: float = 10.0, copy_batch: int = 500, log: Callable[[str], None] = print,
               sleep: Callable[[float], None] = time.sleep) -> MoveReport:
    """Move up to ``count`` users (all by default) from ``source`` to ``target``."""
    if source.nodeid == target.nodeid:
        raise ValueError("source and target are the same node")
    source_store, target_store = services.node_stores.for_url(source.url), services.node_stores.for_url(target.url)
    report = MoveReport()
    while count is None or report.users + len(report.failed) < count:
        room = target.capacity - services.userdb.nodes.get(target.url).current_load
        want = batch if count is None else min(batch, count - report.users - len(report.failed))
        if room <= 0:
            log(f"{target.url} is at capacity; raise it with `syncstorage nodes set {target.url} --capacity N`")
            break
        skipped = set(report.failed)
        pending = [name for _uid, name in services.userdb.nodes.users_on(source.nodeid, min(want, room) + len(skipped))
                   if name not in skipped][:min(want, room)]
        if not pending:
            break
        users = [u for u in (services.userdb.get_user(name) for name in pending) if u is not None]
        settled: set[int] = set()  # users moved or released; the rest are released on the way out
        try:
            for user in users:
                services.userdb.set_moving(user, True)
            sleep(settle)
            for user in users:
                try:
                    copied = _copy_verified(source_store, target_store, user.userid, copy_batch)
                    services.userdb.move_to_node(user, target.nodeid)  # ends the move
                except (CopyMismatch, NodeFull) as error:
                    log(f"{user.username}: not moved ({error}); it stays on {source.url}")
                    services.userdb.set_moving(user, False)
                    settled.add(user.userid)
                    target_store.delete_storage(user.userid)
                    report.failed.append(user.username)
                    continue
                settled.add(user.userid)
                forget(target_store, user.userid)
                source_store.delete_storage(user.userid)
                report.users += 1
                report.records += copied
        finally:
            for user in users:
                if user.userid not in settled:  # interrupted: they stay on the source, served again
                    services.userdb.set_moving(user, False)
        log(f"moved {report.users} users ({report.records} records) from {source.url} to {target.url}")
    return report


def _copy_verified(source_store, target_store, userid: int, copy_batch: int) -> int:
    for attempt in range(1, COPY_ATTEMPTS + 1):
        try:
            return copy_user(sql_store(source_store), sql_store(target_store), userid, copy_batch)
        except CopyMismatch:
            if attempt == COPY_ATTEMPTS:
                raise
    raise AssertionError("unreachable")
