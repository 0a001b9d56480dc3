"""The user database: accounts, password hashes, reset codes, node assignments.

Tables are created by the ``users`` Alembic history (migrations/users/).
Reads and writes are single statements or short transactions; unavailability
raises BackendError like the storage backend.
"""
from __future__ import annotations

import time

import sqlalchemy as sa
from sqlalchemy import bindparam, exc
from sqlalchemy.dialects import mysql

from syncstorage.infra.dbengine import BackendError, run_in_transaction
from syncstorage.users.base import ACTIVE, MOVING, User, UserExists, UserStore
from syncstorage.users.names import valid_username
from syncstorage.users.nodes import Node, NodeDB

__all__ = ["BackendError", "User", "UserExists", "UserDB", "users_table"]

def users_table(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        "users", metadata,
        sa.Column("userid", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("username", sa.String(32).with_variant(mysql.VARCHAR(32, charset="ascii", collation="ascii_bin"),
                                                         "mysql", "mariadb"), nullable=False, unique=True),
        sa.Column("email", sa.String(255)),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("status", sa.SmallInteger, nullable=False, server_default="1"),
        sa.Column("created", sa.BigInteger, nullable=False),
        sa.Column("reset_code_hash", sa.String(64)),
        sa.Column("reset_expires", sa.BigInteger),
        sa.Column("nodeid", sa.Integer),
        sa.Index("users_nodeid", "nodeid"),
        sqlite_autoincrement=True,  # ids are never reused (migration u0003)
    )


class UserDB(UserStore):
    """Accounts in the ``users`` table."""

    def __init__(self, engine: sa.engine.Engine):
        self.engine = engine
        self.metadata = sa.MetaData()
        self.users = t = users_table(self.metadata)
        self.nodes = NodeDB(engine, t)
        self._by_name = sa.select(t.c.userid, t.c.username, t.c.email, t.c.password_hash, t.c.status,
                                  t.c.reset_code_hash, t.c.reset_expires, t.c.nodeid).where(
            t.c.username == bindparam("name"))

    def _run(self, work, write=False):
        return run_in_transaction(self.engine, work, write)

    def get_user(self, username: str) -> User | None:
        if not valid_username(username):
            return None  # cannot exist
        row = self._run(lambda conn: conn.execute(self._by_name, {"name": username}).one_or_none())
        return User(**row._mapping) if row is not None else None

    def create_user(self, username: str, email: str | None, password_hash: str) -> User:
        values = {"username": username, "email": email, "password_hash": password_hash, "status": ACTIVE,
                  "created": int(time.time())}
        try:
            self._run(lambda conn: conn.execute(self.users.insert().values(**values)), write=True)
        except exc.IntegrityError as error:
            raise UserExists(username) from error
        user = self.get_user(username)
        if user is None:
            raise BackendError("account vanished right after creation")
        return user

    def delete_user(self, user: User) -> None:
        t = self.users

        def work(conn):
            row = conn.execute(sa.select(t.c.nodeid).where(t.c.userid == user.userid).with_for_update()).one_or_none()
            if row is not None:
                conn.execute(t.delete().where(t.c.userid == user.userid))
                self.nodes.release(conn, row.nodeid)
        self._run(work, write=True)

    def assign_node(self, user: User) -> Node | None:
        """The user's storage node, assigned now if it has none or its node is down."""
        return self.nodes.assign(user.userid)

    def move_to_node(self, user: User, nodeid: int) -> None:
        """Reassign after the user's data was copied to ``nodeid``, and end the move."""
        t = self.users

        def work(conn):
            self.nodes.reassign(conn, user.userid, nodeid)
            conn.execute(t.update().where(t.c.userid == user.userid).values(status=ACTIVE))
        self._run(work, write=True)

    def set_moving(self, user: User, moving: bool) -> None:
        t = self.users
        stmt = t.update().where(t.c.userid == user.userid).values(status=MOVING if moving else ACTIVE)
        self._run(lambda conn: conn.execute(stmt), write=True)

    def set_password(self, user: User, password_hash: str) -> None:
        """Store a new password hash and clear any reset code."""
        t = self.users
        stmt = t.update().where(t.c.userid == user.userid).values(password_hash=password_hash, reset_code_hash=None,
                                                                 reset_expires=None)
        self._run(lambda conn: conn.execute(stmt), write=True)

    def upgrade_password_hash(self, user: User, old_hash: str, new_hash: str) -> bool:
        """Replace a legacy hash of the same password, unless it changed meanwhile."""
        t = self.users
        stmt = t.update().where(t.c.userid == user.userid, t.c.password_hash == old_hash).values(password_hash=new_hash)
        return self._run(lambda conn: conn.execute(stmt).rowcount, write=True) == 1

    def set_email(self, user: User, email: str) -> None:
        t = self.users
        stmt = t.update().where(t.c.userid == user.userid).values(email=email)
        self._run(lambda conn: conn.execute(stmt), write=True)

    def set_reset_code(self, user: User, code_hash: str | None, expires: int | None) -> None:
        t = self.users
        stmt = t.update().where(t.c.userid == user.userid).values(reset_code_hash=code_hash, reset_expires=expires)
        self._run(lambda conn: conn.execute(stmt), write=True)

    def check(self) -> None:
        self._run(lambda conn: conn.execute(sa.text("SELECT 1")).scalar())
