"""The memcached footprint of an active user: three entries (account, info, verified credential)."""
from loadtest.cachesize import measure
from syncstorage.devservices import Memcached

from ..conftest import start_service


def test_an_active_user_costs_three_entries_of_about_a_kilobyte():
    start_service(Memcached).stop()  # skip (or fail under SYNCSTORAGE_REQUIRE_SERVICES) without memcached
    result = measure(users=5, collections=10)
    assert result["items_per_user"] == 3
    assert 500 < result["bytes_per_user"] < 2000
