"""Client addresses: X-Forwarded-For believed only from configured proxies."""
import pytest

from syncstorage.gate.addresses import ClientAddresses, parse_networks, within


def env(peer, forwarded=None):
    e = {"REMOTE_ADDR": peer}
    if forwarded is not None:
        e["HTTP_X_FORWARDED_FOR"] = forwarded
    return e


def test_without_trusted_proxies_the_header_is_ignored():
    addresses = ClientAddresses([])
    assert addresses.of(env("203.0.113.9", "198.51.100.1")) == "203.0.113.9"


def test_an_untrusted_peer_cannot_name_another_address():
    addresses = ClientAddresses(["127.0.0.1/32"])
    assert addresses.of(env("203.0.113.9", "127.0.0.1, 198.51.100.1")) == "203.0.113.9"


def test_behind_a_trusted_proxy_the_right_most_untrusted_hop_is_the_client():
    addresses = ClientAddresses(["127.0.0.1/32", "10.0.0.0/8"])
    # the client forged a first entry; nginx appended the real one, an inner proxy another
    assert addresses.of(env("127.0.0.1", "1.2.3.4, 203.0.113.9, 10.1.1.1")) == "203.0.113.9"
    assert addresses.of(env("127.0.0.1", "203.0.113.9")) == "203.0.113.9"
    assert addresses.of(env("127.0.0.1")) == "127.0.0.1"  # nothing forwarded: the proxy itself
    assert addresses.of(env("::ffff:127.0.0.1", "[2001:db8::5]")) == "2001:db8::5"


def test_garbage_in_the_header_stops_the_walk_at_the_last_good_hop():
    addresses = ClientAddresses(["127.0.0.1/32"])
    assert addresses.of(env("127.0.0.1", "not-an-address")) == "127.0.0.1"
    assert addresses.of(env("127.0.0.1", "\x00\xff, 203.0.113.9")) == "203.0.113.9"
    assert addresses.of(env("127.0.0.1", "203.0.113.9, junk")) == "127.0.0.1"


def test_networks():
    nets = parse_networks(["127.0.0.1/32", "::1/128"])
    assert within("127.0.0.1", nets) and within("::1", nets)
    assert not within("10.1.2.3", nets) and not within("not-an-ip", parse_networks(["0.0.0.0/0"]))
    assert not within(None, nets) and not within("", nets)
    with pytest.raises(ValueError, match="nonsense"):
        parse_networks(["nonsense"])


def test_hostile_hops_are_not_parsed_nor_remembered_when_longer_than_any_address():
    from syncstorage.gate.addresses import _parse_ip

    addresses = ClientAddresses(["127.0.0.1/32"])
    before = _parse_ip.cache_info().currsize
    huge = "1" * 100000
    assert addresses.of(env("127.0.0.1", f"{huge}, 203.0.113.9")) == "203.0.113.9"
    assert addresses.of(env("127.0.0.1", f"203.0.113.9, {huge}")) == "127.0.0.1"
    assert _parse_ip.cache_info().currsize <= before + 2  # the two real addresses at most
    assert addresses.of(env("127.0.0.1", "fe80::1234:5678:9abc:def0%eth0")) == "fe80::1234:5678:9abc:def0%eth0"
    for n in range(10000):  # an attacker's stream of new addresses: the memory stays bounded
        addresses.of(env("127.0.0.1", f"198.51.{n // 256}.{n % 256}"))
    assert _parse_ip.cache_info().currsize <= _parse_ip.cache_info().maxsize


def test_remembered_answers_are_the_answers_and_long_headers_are_not_kept():
    addresses = ClientAddresses(["127.0.0.1/32"])
    for _ in range(2):  # the second time from memory
        assert addresses.of(env("127.0.0.1", "1.2.3.4, 203.0.113.9")) == "203.0.113.9"
        assert addresses.of(env("203.0.113.7", "1.2.3.4")) == "203.0.113.7"
    kept = addresses._remembered.cache_info().currsize
    long_chain = ", ".join(["127.0.0.1"] * 40) + ", 198.51.100.3"  # proxies all the way
    assert addresses.of(env("127.0.0.1", long_chain + ", 127.0.0.1")) == "198.51.100.3"
    assert addresses._remembered.cache_info().currsize == kept
