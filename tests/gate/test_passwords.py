import pytest

from syncstorage.gate.passwords import hash_password, legacy_hash, needs_upgrade, strong_enough, verify_password

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


# Imported schemes.  weave-minimal: Weave.crypt("password") of weave-minimal 1.5.1;
# MD5: md5("password"); bcrypt: the OpenBSD test vector for "U*U".
IMPORTED = [
    ("{WEAVE-MINIMAL}", "5604ecc1faac78eb", "password"),
    ("{MD5}", "5f4dcc3b5aa765d61d8327deb882cf99", "password"),
    ("{BCRYPT}", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", "U*U"),
]


@pytest.mark.parametrize("scheme,value,password", IMPORTED)
def test_imported_schemes_verify_and_ask_for_an_upgrade(scheme, value, password):
    stored = legacy_hash(scheme, value)
    assert stored == scheme + value
    assert verify_password(password, stored)
    assert not verify_password(password + "x", stored) and not verify_password(password[:-1], stored)
    assert needs_upgrade(stored)


def test_imported_hex_hashes_are_stored_lower_case():
    assert legacy_hash("{MD5}", " 5F4DCC3B5AA765D61D8327DEB882CF99\n") == "{MD5}5f4dcc3b5aa765d61d8327deb882cf99"


@pytest.mark.parametrize("scheme,value", [("{WEAVE-MINIMAL}", "5604ecc1faac78e"), ("{MD5}", "zz" * 16),
                                          ("{BCRYPT}", "$2a$05$short"), ("{BCRYPT}", "5f4dcc3b5aa765d6")])
def test_malformed_imported_hashes_are_refused(scheme, value):
    assert legacy_hash(scheme, value) is None
    assert not verify_password("password", scheme + value)


def test_bcrypt_reads_only_the_first_72_bytes_as_crypt_does():
    import bcrypt

    stored = "{BCRYPT}" + bcrypt.hashpw(b"a" * 72, bcrypt.gensalt(4, prefix=b"2a")).decode()
    assert verify_password("a" * 72, stored) and verify_password("a" * 80, stored)
    assert not verify_password("a" * 71, stored)
