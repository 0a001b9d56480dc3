"""Client addresses: which address a request comes from, and address lists.

Behind nginx every request's peer is the proxy.  The client's own address is
then the right-most ``X-Forwarded-For`` entry that is not one of our proxies,
but only when the peer itself is a configured trusted proxy (``[server]
trusted_proxies``): anyone else can write that header, so it is ignored for
them.  Failed-login limits, reset limits, the captcha check and the
``/__metrics__`` / heartbeat detail all key on this one address.
"""
from __future__ import annotations

import functools
import ipaddress
from typing import Iterable, Mapping

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# No address, IPv6 with a zone included, is longer; longer text is not parsed (nor remembered).
MAX_ADDRESS_CHARS = 64
# Client addresses are remembered for peers and X-Forwarded-For values up to this long together.
MAX_REMEMBERED_CHARS = 256


def parse_networks(cidrs: Iterable[str]) -> tuple[Network, ...]:
    """CIDR strings as networks; ValueError names the first that is not one."""
    networks = []
    for cidr in cidrs:
        try:
            networks.append(ipaddress.ip_network(cidr.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{cidr!r} is not an address or CIDR network") from None
    return tuple(networks)


def _ip(text: str):
    """An address from a header or the peer ("[::1]" and IPv4-mapped IPv6 included); None if not one."""
    text = text.strip()
    return _parse_ip(text) if len(text) <= MAX_ADDRESS_CHARS else None


@functools.lru_cache(maxsize=4096)  # every request parses its peer: the same few come back
def _parse_ip(text: str):
    if text.startswith("[") and "]" in text:
        text = text[1:text.index("]")]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def within(address: str | None, networks: tuple[Network, ...]) -> bool:
    """Whether ``address`` lies in one of ``networks``."""
    ip = _ip(address) if address else None
    return ip is not None and any(ip in net for net in networks)


class ClientAddresses:
    """The client address of a request, trusting X-Forwarded-For only from ``proxies``."""

    def __init__(self, proxies: Iterable[str] = ()):
        self.proxies = parse_networks(proxies)
        # Every request asks; the same (peer, X-Forwarded-For) pairs come back.
        self._remembered = functools.lru_cache(maxsize=4096)(self._resolve)

    def _trusted(self, ip) -> bool:
        return any(ip in net for net in self.proxies)

    def is_proxy(self, peer: str | None) -> bool:
        """Whether the peer is one of our proxies (whose headers, e.g. X-Request-Start, are believed)."""
        ip = _ip(peer) if peer and self.proxies else None
        return ip is not None and self._trusted(ip)

    def of(self, environ: Mapping[str, str]) -> str:
        """The client's address as text ("" when the peer is unknown)."""
        peer = environ.get("REMOTE_ADDR") or ""
        forwarded = environ.get("HTTP_X_FORWARDED_FOR", "")
        if len(peer) + len(forwarded) > MAX_REMEMBERED_CHARS:  # a long header is not worth keeping
            return self._resolve(peer, forwarded)
        return self._remembered(peer, forwarded)

    def _resolve(self, peer: str, forwarded: str) -> str:
        ip = _ip(peer)
        if ip is None:
            return peer
        if not self.proxies or not self._trusted(ip):
            return str(ip)
        for hop in reversed(forwarded.split(",")):
            hop_ip = _ip(hop)
            if hop_ip is None:
                break  # garbage before our proxies' entries: the last good hop is as far as we can trust
            ip = hop_ip
            if not self._trusted(hop_ip):
                break
        return str(ip)
