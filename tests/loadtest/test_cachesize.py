"""The memcached footprint of an active user: four entries (account, info, verified
credential, the address the account logged in from)."""
from loadtest.cachesize import measure
from loadtest.services import Memcached

from ..conftest import start_service


def test_an_active_user_costs_four_entries_of_about_a_kilobyte():
    start_service(Memcached).stop()  # skip (or fail under SYNCSTORAGE_REQUIRE_SERVICES) without memcached
    result = measure(users=5, collections=10)
    assert result["items_per_user"] == 4
    assert 500 < result["bytes_per_user"] < 2000
