"""The address guard and the pinned transport behind actions.outbound (import that, not this).

`_pin()` resolves a host once and refuses it when any of its addresses is not public (loopback,
private, link-local, carrier-grade NAT, a tunnel to one of those...) or when it is a cloud
metadata name; `_PinnedAdapter` then connects to exactly the address that was checked, while
TLS SNI, the certificate check and the Host header use the name, so no second DNS answer can
send the call elsewhere (no DNS rebinding), and its connections read answers through
`_DeadlineReader`, which never waits past the call's deadline. This is part of the one outbound
HTTP client, split from outbound.py to keep each readable: it imports urllib3 and requests'
HTTPAdapter for that transport only, and makes no call itself. The errors, the constants and
`resolve()` are read from actions.outbound at each call, so tests that replace
`outbound.resolve` or a constant are obeyed here too.
"""

import http.client
import io
import ipaddress
import socket
import time
from contextvars import ContextVar
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.util import parse_url

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_BENCHMARK = ipaddress.ip_network("198.18.0.0/15")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")


# --- the address guard ----------------------------------------------------------------------


def _address_problem(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why `addr` is not a public address ("a loopback address"), or None if it is."""
    if isinstance(addr, ipaddress.IPv6Address):
        # Forms that carry an IPv4 address: the packet really goes to the embedded one.
        if addr.ipv4_mapped is not None:
            return _address_problem(addr.ipv4_mapped)
        if addr.sixtofour is not None:
            return _address_problem(addr.sixtofour)
        if addr in _NAT64:
            return _address_problem(ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF))
        if addr in _NAT64_LOCAL or addr.teredo is not None:
            return "a tunnel (NAT64/Teredo) address"
    checks = [
        (addr.is_unspecified, "an unspecified address"),
        (addr.is_loopback, "a loopback address"),
        (addr.is_link_local, "a link-local address"),
        (addr.is_multicast, "a multicast address"),
        (addr in _CGNAT, "a shared (carrier-grade NAT) address"),
        (addr in _BENCHMARK, "a benchmarking address"),
        (addr.is_private, "a private address"),
        (addr.is_reserved, "a reserved address"),
        (not addr.is_global, "a non-public address"),
    ]
    return next((reason for failed, reason in checks if failed), None)


def _split_url(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an http(s) URL, or AddressRefused."""
    # Read from actions.outbound at each call: it imports this module, and tests patch it.
    from actions.outbound import DEFAULT_PORTS, AddressRefused

    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise AddressRefused("The URL is not valid.") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise AddressRefused(f"Only http and https URLs are allowed, not {scheme or 'none'}.")
    if not parts.hostname:
        raise AddressRefused("The URL has no host name.")
    return scheme, parts.hostname, port or DEFAULT_PORTS[scheme]


def _pin(host: str, port: int, allow_private: bool | None) -> str:
    """Resolve `host` once, check every address, and return the one to connect to."""
    # At each call, as above: tests replace outbound.resolve.
    from actions.outbound import METADATA_HOSTS, AddressRefused, UpstreamUnreachable, resolve

    allowed = settings.ACTIONS_ALLOW_PRIVATE_NETWORKS if allow_private is None else allow_private
    refusal = "calls to private networks are not allowed"
    if not allowed and host.rstrip(".").lower() in METADATA_HOSTS:
        raise AddressRefused(f"{host} is a cloud metadata host name; {refusal}.")
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        problem = None if allowed else _address_problem(literal)
        if problem:
            raise AddressRefused(f"{host} is {problem}; {refusal}.")
        return host
    try:
        # Also normalises odd IPv4 spellings such as 2130706433 or 0x7f.1 to 127.0.0.1.
        addresses = resolve(host, port)
    except (OSError, UnicodeError):
        raise UpstreamUnreachable(f"{host} could not be resolved (DNS lookup failed).") from None
    if not addresses:
        raise UpstreamUnreachable(f"{host} could not be resolved (no addresses).")
    for address in addresses:
        problem = None if allowed else _address_problem(ipaddress.ip_address(address))
        if problem:
            raise AddressRefused(f"{host} resolves to {address}, {problem}; {refusal}.")
    return addresses[0]


# --- transport: pinned connections and a deadline on every socket read ----------------------

# The deadline of the call running in this thread/context; read by the socket reader below.
_deadline: ContextVar[float | None] = ContextVar("outbound_deadline", default=None)


class _DeadlineReader(io.RawIOBase):
    """Socket reads that never wait past the deadline, however slowly the server drips bytes."""

    def __init__(self, raw: io.RawIOBase, sock: socket.socket, deadline: float):
        self._raw, self._sock, self._deadline = raw, sock, deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int | None:
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the call's deadline passed")
        self._sock.settimeout(remaining)
        return self._raw.readinto(buffer)

    def close(self) -> None:
        self._raw.close()  # releases the socket's makefile reference
        super().close()


class _DeadlineHTTPResponse(http.client.HTTPResponse):
    def __init__(self, sock: socket.socket, *args: Any, **kwargs: Any):
        super().__init__(sock, *args, **kwargs)
        deadline = _deadline.get()
        if deadline is not None:  # nothing has been read yet, so detaching loses no data
            self.fp = io.BufferedReader(_DeadlineReader(self.fp.detach(), sock, deadline))


# Pools whose connections read answers through _DeadlineHTTPResponse.
class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = type("_Conn", (HTTPConnection,), {"response_class": _DeadlineHTTPResponse})


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = type("_Conn", (HTTPSConnection,), {"response_class": _DeadlineHTTPResponse})


class _PinnedAdapter(HTTPAdapter):
    """Connects to the checked IP; SNI, certificate and Host header use the host name.

    Pools are keyed by (scheme, IP, port, host name), so keep-alive still works and a host
    that now resolves elsewhere gets a fresh pool. `responses` patches HTTPAdapter.send,
    which skips all of this (no DNS) in tests that mock calls.
    """

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}

    def get_connection_with_tls_context(self, request, verify, proxies=None, cert=None):
        _scheme, host, port = _split_url(request.url)
        address = _pin(host, port, getattr(request, "outbound_allow_private", None))
        host_params, pool_kwargs = self.build_connection_pool_key_attributes(request, verify, cert)
        host_params["host"] = address
        # Part of the pool key for both schemes; urllib3 uses it for SNI and the cert check.
        pool_kwargs["server_hostname"] = host
        return self.poolmanager.connection_from_host(**host_params, pool_kwargs=pool_kwargs)

    def add_headers(self, request, **kwargs: Any) -> None:
        # Without it http.client would send the IP we connect to.
        request.headers["Host"] = parse_url(request.url).netloc
