import pytest

from syncstorage.gate.passwords import hash_password, needs_upgrade, strong_enough, verify_password

# Spec §5.3 vectors: password "password", salt "abcdefgh".
VECTORS = [
    "{SSHA-256}hG7Ffh1tOZl5i/3bOd4ZwI5qdOwXcF2ItzFN1KdpTkhhYmNkZWZnaA==",
    "{SSHA}mLoUnWoB6xapRmPO2lAiF0vdaBNhYmNkZWZnaA==",
    "{SSCRYPT}isIi/SpTGXc4eJuC7+ogX/i56IRH9/tizsRRhF8DKJOdpaXQHoLplm3iprxhot1WjcxOuSnJK7FV+KKy9rMBp2FiY2RlZmdo",
]


@pytest.mark.parametrize("stored", VECTORS)
def test_reference_vectors_verify(stored):
    assert verify_password("password", stored)
    assert not verify_password("Password", stored)


def test_new_hashes_are_salted_scrypt():
    first, second = hash_password("secret-1"), hash_password("secret-1")
    assert first.startswith("{SSCRYPT}") and first != second
    assert verify_password("secret-1", first) and not verify_password("secret-2", first)
    assert hash_password("password", salt=b"abcdefgh") == VECTORS[2]


def test_upgrade_needed_only_for_legacy_schemes():
    assert needs_upgrade(VECTORS[0]) and needs_upgrade(VECTORS[1]) and not needs_upgrade(VECTORS[2])


@pytest.mark.parametrize("stored", ["", "plain", "{SSHA}not base64!", "{SSHA}YQ==", "{MD5}abc"])
def test_garbage_never_verifies(stored):
    assert not verify_password("password", stored)


def test_strength_rule():
    assert strong_enough("12345678", "bob") and strong_enough("éééé", "bob")  # 8 UTF-8 bytes
    assert not strong_enough("1234567", "bob") and not strong_enough(" BobBobBob ", "bobbobbob")
