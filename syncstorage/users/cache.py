"""The user database behind memcached: authentication and node lookups without SQL.

One entry per account name, ``user:<name>`` (the account, or null for a name
that does not exist).  Every change goes through :meth:`CoherentCache.write`,
so a password change, a deletion or a new account is seen by every worker at
once; the next read rebuilds the entry.
"""
from __future__ import annotations

import dataclasses

from syncstorage.infra.memcache import CoherentCache
from syncstorage.users.nodes import Node
from syncstorage.users.names import valid_username
from syncstorage.users.base import User, UserStore
from syncstorage.users.sql import UserDB


class CachedUserDB(UserStore):
    def __init__(self, db: UserDB, cache: CoherentCache):
        self.db = db
        self.cache = cache

    @property
    def engine(self):
        return self.db.engine

    @property
    def users(self):
        return self.db.users

    @property
    def nodes(self):
        return self.db.nodes

    @staticmethod
    def key(username: str) -> str:
        return f"user:{username}"

    def get_user(self, username: str) -> User | None:
        if not valid_username(username):
            return None  # cannot exist: no cache entry, no SQL

        def load():
            user = self.db.get_user(username)
            return dataclasses.asdict(user) if user else None
        value = self.cache.read(self.key(username), load, "user")
        return User(**value) if value else None

    def create_user(self, username: str, email: str | None, password_hash: str) -> User:
        return self.cache.write(self.key(username), lambda: self.db.create_user(username, email, password_hash))

    def delete_user(self, user: User) -> None:
        self.cache.write(self.key(user.username), lambda: self.db.delete_user(user))

    def set_password(self, user: User, password_hash: str) -> None:
        self.cache.write(self.key(user.username), lambda: self.db.set_password(user, password_hash))

    def upgrade_password_hash(self, user: User, old_hash: str, new_hash: str) -> bool:
        return self.cache.write(self.key(user.username),
                                lambda: self.db.upgrade_password_hash(user, old_hash, new_hash))

    def set_email(self, user: User, email: str) -> None:
        self.cache.write(self.key(user.username), lambda: self.db.set_email(user, email))

    def set_reset_code(self, user: User, code_hash: str | None, expires: int | None) -> None:
        self.cache.write(self.key(user.username), lambda: self.db.set_reset_code(user, code_hash, expires))

    def assign_node(self, user: User) -> Node | None:
        return self.cache.write(self.key(user.username), lambda: self.db.assign_node(user))

    def move_to_node(self, user: User, nodeid: int) -> None:
        self.cache.write(self.key(user.username), lambda: self.db.move_to_node(user, nodeid))

    def set_moving(self, user: User, moving: bool) -> None:
        self.cache.write(self.key(user.username), lambda: self.db.set_moving(user, moving))

    def check(self) -> None:
        self.db.check()
