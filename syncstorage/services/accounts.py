"""Operations on a whole account that span the user database and the account's node."""
from __future__ import annotations

from syncstorage.services.root import Services
from syncstorage.users.sql import User


def delete_account(services: Services, user: User) -> None:
    """Delete an account and its data, the data first: an account without data is
    harmless, data without an account is not.  The user id is retired on its node,
    so that a write which authenticated before the deletion cannot land after it."""
    node = services.nodes.by_id(user.nodeid)
    store = services.node_stores.for_url(node.url if node else None)
    if store is not None:
        store.retire_user(user.userid, int(services.clock()))
    services.userdb.delete_user(user)
