"""The user store contract: tests every UserStore implementation must pass.

Use it as a mixin of a pytest test class that provides a ``userdb`` fixture
(every test uses its own random user names)::

    class TestMyUserStore(UserStoreContract):
        @pytest.fixture
        def userdb(self): ...
"""
from __future__ import annotations

import threading
import uuid

import pytest

from syncstorage.users.base import UserExists


def new_name() -> str:
    return "u" + uuid.uuid4().hex[:24]


class UserStoreContract:
    def test_create_read_update_delete(self, userdb):
        name = new_name()
        user = userdb.create_user(name, "a@example.com", "{SSCRYPT}x")
        assert (user.username, user.email, user.password_hash, user.active) == (name, "a@example.com",
                                                                               "{SSCRYPT}x", True)
        assert userdb.get_user(name) == user
        userdb.set_email(user, "b@example.com")
        userdb.set_reset_code(user, "hash", 123)
        assert (userdb.get_user(name).reset_code_hash, userdb.get_user(name).reset_expires) == ("hash", 123)
        userdb.set_password(user, "{SSCRYPT}y")
        changed = userdb.get_user(name)
        assert (changed.email, changed.password_hash, changed.reset_code_hash) == ("b@example.com", "{SSCRYPT}y",
                                                                                   None)
        userdb.delete_user(user)
        assert userdb.get_user(name) is None

    def test_a_legacy_hash_is_upgraded_only_if_unchanged(self, userdb):
        user = userdb.create_user(new_name(), None, "{SSHA-256}old")
        assert not userdb.upgrade_password_hash(user, "{SSHA-256}stale", "{SSCRYPT}new")
        assert userdb.upgrade_password_hash(user, "{SSHA-256}old", "{SSCRYPT}new")
        assert userdb.get_user(user.username).password_hash == "{SSCRYPT}new"

    def test_usernames_are_case_sensitive_and_unique(self, userdb):
        name = new_name()
        userdb.create_user(name, None, "h")
        with pytest.raises(UserExists):
            userdb.create_user(name, None, "h")
        assert userdb.get_user(name.upper()) is None

    def test_names_that_cannot_be_user_names_are_no_one(self, userdb):
        for name in ("", "x" * 33, "x" * 300, "with space", "tab\t", "\u00e9t\u00e9", "abc\n", "a/b"):
            assert userdb.get_user(name) is None

    def test_user_ids_are_never_reused(self, userdb):
        first = userdb.create_user(new_name(), None, "h")
        userdb.delete_user(first)
        assert userdb.create_user(new_name(), None, "h").userid > first.userid

    def test_moving_accounts_stay_active(self, userdb):
        user = userdb.create_user(new_name(), None, "h")
        userdb.set_moving(user, True)
        moving = userdb.get_user(user.username)
        assert moving.moving and moving.active
        userdb.set_moving(user, False)
        assert not userdb.get_user(user.username).moving

    def test_every_change_is_seen_by_the_next_read(self, userdb):
        """What one worker changes, the next read (any worker's) sees: no stale account."""
        user = userdb.create_user(new_name(), None, "h")
        for n in range(5):
            userdb.set_password(user, f"h{n}")
            assert userdb.get_user(user.username).password_hash == f"h{n}"

    def test_concurrent_creation_creates_one_account(self, userdb):
        name = new_name()
        outcomes = []

        def attempt():
            try:
                outcomes.append(userdb.create_user(name, None, "h").userid)
            except UserExists:
                outcomes.append("exists")

        threads = [threading.Thread(target=attempt) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert outcomes.count("exists") == 5
        assert userdb.get_user(name).userid in outcomes

    def test_check(self, userdb):
        userdb.check()
