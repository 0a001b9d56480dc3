"""The user store interface: what the SQL store and its memcached front both provide.

Every implementation passes the contract suite of users/testing.py.  Reads of
an account return a fresh :class:`User` (the hash, status and node as stored);
every change is seen by the next read of any worker.  Unavailability raises
BackendError.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass

from syncstorage.users.nodes import Node, NodeDB

ACTIVE = 1
MOVING = 2  # data being copied to another node: storage requests get 503 until the move ends


class UserExists(Exception):
    """An account with that user name already exists."""


@dataclass(frozen=True)
class User:
    userid: int
    username: str
    email: str | None
    password_hash: str
    status: int
    reset_code_hash: str | None = None
    reset_expires: int | None = None
    nodeid: int | None = None

    @property
    def active(self) -> bool:
        return self.status in (ACTIVE, MOVING)

    @property
    def moving(self) -> bool:
        return self.status == MOVING


class UserStore(abc.ABC):
    """Accounts: names, password hashes, e-mail, reset codes, node assignment."""

    nodes: NodeDB

    @abc.abstractmethod
    def get_user(self, username: str) -> User | None:
        """The account, or None (also for a name that cannot be a user name)."""

    @abc.abstractmethod
    def create_user(self, username: str, email: str | None, password_hash: str) -> User:
        """A new account; UserExists if the name is taken.  User ids are never reused."""

    @abc.abstractmethod
    def delete_user(self, user: User) -> None:
        """Remove the account (its data is the caller's: services.accounts)."""

    @abc.abstractmethod
    def set_password(self, user: User, password_hash: str) -> None:
        """A new password hash; clears any reset code."""

    @abc.abstractmethod
    def upgrade_password_hash(self, user: User, old_hash: str, new_hash: str) -> bool:
        """Replace ``old_hash`` by a rehash of the same password, unless it changed meanwhile."""

    @abc.abstractmethod
    def set_email(self, user: User, email: str) -> None:
        """A new e-mail address."""

    @abc.abstractmethod
    def set_reset_code(self, user: User, code_hash: str | None, expires: int | None) -> None:
        """Store (or clear, with None) the hash of a password-reset code."""

    @abc.abstractmethod
    def assign_node(self, user: User) -> Node | None:
        """The user's storage node, assigned now if it has none or its node is down."""

    @abc.abstractmethod
    def move_to_node(self, user: User, nodeid: int) -> None:
        """Reassign after the user's data was copied to ``nodeid``, and end the move."""

    @abc.abstractmethod
    def set_moving(self, user: User, moving: bool) -> None:
        """Mark (or unmark) the account as being moved between nodes."""

    @abc.abstractmethod
    def check(self) -> None:
        """Raise BackendError if the store cannot answer a trivial query."""
