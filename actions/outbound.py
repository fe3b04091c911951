"""The one place that makes HTTP calls to third-party APIs and OAuth providers.

Every call goes through `request()` (or `fetch_text()`), which enforces:

* an address guard: the host is resolved once, every address is checked, and the
  TCP connection goes to the checked address (no second lookup, so no DNS
  rebinding) while TLS SNI, certificate checks and the Host header use the name;
* a connect timeout and a deadline on the whole call, body included;
* size caps on the request body and on the response text;
* redirects followed by hand: same host only, at most MAX_REDIRECTS, with
  credentials stripped on every hop.

The address guard and the pinned, deadline-bound transport are in outbound_guard.py; this module
is the one to import. Module constants are read at call time, so tests can monkeypatch them.
"""

import codecs
import functools
import http.client
import http.cookiejar
import logging
import socket
import time
from dataclasses import dataclass
from email.message import Message
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from urllib3.exceptions import DecodeError, ReadTimeoutError
from urllib3.exceptions import HTTPError as Urllib3Error

from actions import strictjson
from actions.outbound_guard import (
    _deadline,
    _DeadlineReader,  # noqa: F401 - kept reachable as outbound._DeadlineReader (tests use it)
    _pin,
    _PinnedAdapter,
    _split_url,
)

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 10.0  # seconds to open the TCP (and TLS) connection
TOTAL_TIMEOUT = 45.0  # seconds for the whole call: redirects, headers and body
MAX_REQUEST_CHARS = 100_000
MAX_RESPONSE_CHARS = 100_000
MAX_REDIRECTS = 5
CHUNK_BYTES = 16_384

REDIRECT_STATUSES = {301, 302, 303, 307, 308}
DEFAULT_PORTS = {"http": 80, "https": 443}
# Cloud metadata services, refused by name in case a resolver maps them somewhere odd.
# fmt: off
METADATA_HOSTS = {"metadata", "metadata.google.internal", "metadata.goog", "instance-data",
                  "instance-data.ec2.internal", "metadata.tencentyun.com"}
# fmt: on


class OutboundError(Exception):
    """Base; str(e) is a user-readable message that never contains header values or secrets."""


class AddressRefused(OutboundError):
    """The URL's scheme, host name or resolved address is not allowed."""


class UpstreamTimeout(OutboundError):
    """The connection was not accepted in time, or the whole-call deadline passed."""


class UpstreamUnreachable(OutboundError):
    """DNS failure, connection refused or reset, or a TLS error."""


class RequestTooLarge(OutboundError):
    """The request body is over MAX_REQUEST_CHARS; nothing was sent."""


class ResponseTooLarge(RequestTooLarge):
    """fetch_text(): the answer is over the caller's limit (also a RequestTooLarge)."""


@dataclass
class Response:
    """An answer, fully read (up to the cap). Header names are lower-cased."""

    status: int
    headers: dict[str, str]
    text: str
    truncated: bool
    elapsed_ms: int
    url: str  # the final URL, after any followed redirects

    def json(self) -> Any:
        """The body parsed as plain JSON; raises ValueError if it is not (or was truncated):
        NaN, 1e400 or nesting too deep for Python would break the answer passed on."""
        return strictjson.loads(self.text)


# --- the address guard ----------------------------------------------------------------------


def resolve(host: str, port: int) -> list[str]:
    """All addresses of `host`, IPv4 first (a module-level function so tests can replace it)."""
    if host.lower().rstrip(".").endswith(".localhost"):
        # RFC 6761 §6.3: *.localhost is loopback, as browsers resolve it (the local demo uses it).
        return ["127.0.0.1"]
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    # IPv4 first: servers often have an IPv6 address but no IPv6 route, and we try only one.
    infos.sort(key=lambda info: info[0] != socket.AF_INET)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def check_url(url: str, *, allow_private: bool | None = None) -> None:
    """Raise AddressRefused unless `url` may be called (resolves DNS).

    A host name that does not resolve raises UpstreamUnreachable; both are OutboundErrors.
    """
    _scheme, host, port = _split_url(url)
    _pin(host, port, allow_private)


# --- the session ----------------------------------------------------------------------------


class _OutboundSession(requests.Session):
    """A requests.Session that only makes guarded calls; shared by all users and threads."""

    def __init__(self) -> None:
        super().__init__()
        # HTTP(S)_PROXY/NO_PROXY could route around the guard; .netrc could add credentials.
        self.trust_env = False
        # One session serves every user: never keep a cookie from one call for the next.
        self.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
        adapter = _PinnedAdapter(pool_connections=32, pool_maxsize=8)
        self.mount("http://", adapter)
        self.mount("https://", adapter)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        kwargs["allow_redirects"] = False  # request() follows redirects with its own rules
        kwargs["proxies"] = {}
        return super().send(request, **kwargs)


@functools.cache  # created on first use; a rare duplicate from a race is harmless
def _get_session() -> _OutboundSession:
    return _OutboundSession()


# --- the calls --------------------------------------------------------------------------------


def _body_chars(body: Any) -> int:
    if body is None:
        return 0
    if isinstance(body, str):
        return len(body)
    if isinstance(body, bytes):
        # Never more characters than bytes: decode only when the byte count is over.
        return len(body) if len(body) <= MAX_REQUEST_CHARS else len(body.decode(errors="replace"))
    raise OutboundError("Streaming request bodies (files, generators) are not supported.")


def _bad_header() -> OutboundError:
    return OutboundError("A request header has a name or value that is not allowed.")


def _late(host: str) -> UpstreamTimeout:
    return UpstreamTimeout(f"{host} did not answer within {TOTAL_TIMEOUT:g} seconds.")


def _send(prepared: requests.PreparedRequest, host: str, deadline: float, private: bool | None):
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise _late(host)
    prepared.outbound_allow_private = private  # read by _PinnedAdapter
    connect = min(CONNECT_TIMEOUT, remaining)
    try:
        return _get_session().send(prepared, stream=True, timeout=(connect, remaining))
    # `from None` throughout: requests' messages can include the URL with its query string.
    except requests.exceptions.ConnectTimeout:
        error = UpstreamTimeout(f"{host} did not accept a connection within {connect:g} seconds.")
    except requests.exceptions.ReadTimeout:
        error = _late(host)
    except requests.exceptions.SSLError:
        error = UpstreamUnreachable(f"The TLS connection to {host} failed (handshake/certificate).")
    except (requests.exceptions.InvalidHeader, ValueError):  # http.client rejects odd names
        error = _bad_header()
    except requests.exceptions.ConnectionError:
        error = UpstreamUnreachable(f"Could not connect to {host}, or it dropped the connection.")
    except requests.exceptions.RequestException:
        error = OutboundError(f"The call to {host} failed.")
    raise error from None


def _decoder(content_type: str) -> codecs.IncrementalDecoder:
    message = Message()
    message["content-type"] = content_type
    charset = message.get_content_charset() or "utf-8"
    try:
        return codecs.getincrementaldecoder(charset)(errors="replace")
    except LookupError:
        return codecs.getincrementaldecoder("utf-8")(errors="replace")


def _read(
    resp: requests.Response, host: str, started: float, deadline: float, max_chars: int
) -> Response:
    """Read the body in chunks: stop at the deadline or just past `max_chars` characters."""
    decoder = _decoder(resp.headers.get("Content-Type", ""))
    parts: list[str] = []
    count = 0
    try:
        for chunk in resp.raw.stream(CHUNK_BYTES, decode_content=True):
            parts.append(decoder.decode(chunk))
            count += len(parts[-1])
            if count > max_chars:
                break
            if time.monotonic() >= deadline:
                raise _late(host)
        else:
            parts.append(decoder.decode(b"", final=True))
    except (ReadTimeoutError, TimeoutError):
        raise _late(host) from None
    except DecodeError:
        raise UpstreamUnreachable(f"{host} sent a compressed body that did not decode.") from None
    except (Urllib3Error, OSError):
        raise UpstreamUnreachable(f"The connection to {host} broke during the answer.") from None
    finally:
        resp.close()  # an unread rest means the connection is dropped, not reused
    text = "".join(parts)
    return Response(
        status=resp.status_code,
        headers={name.lower(): value for name, value in resp.headers.items()},
        text=text[:max_chars],
        truncated=len(text) > max_chars,
        elapsed_ms=round((time.monotonic() - started) * 1000),
        url=resp.url,
    )


def _follow_target(current: str, resp: requests.Response) -> str | None:
    """The URL to go to next, or None if this answer is final (not a redirect, other host...)."""
    location = resp.headers.get("Location")
    if resp.status_code not in REDIRECT_STATUSES or not location:
        return None
    target = urljoin(current, location)
    try:
        old, new = _split_url(current), _split_url(target)
    except AddressRefused:
        return None
    # Same scheme, host and port; or the http -> https upgrade of the same host.
    upgrade = old[0] == "http" and new[0] == "https" and old[1:] == (new[1], 80) and new[2] == 443
    return target if old == new or upgrade else None


def _next_hop(
    prev: requests.PreparedRequest, status: int, target: str, strip: set[str]
) -> requests.PreparedRequest:
    nxt = prev.copy()
    nxt.prepare_url(target, None)
    for name in list(nxt.headers):
        if name.lower() in strip or name.lower() == "host":
            del nxt.headers[name]
    # What browsers do: 303 becomes GET, and so do 301/302 after a POST; 307/308 keep all.
    if (status == 303 and prev.method != "HEAD") or (
        status in (301, 302) and prev.method == "POST"
    ):
        nxt.method, nxt.body = "GET", None
        for name in ("Content-Type", "Content-Length", "Transfer-Encoding"):
            nxt.headers.pop(name, None)
    return nxt


def request(
    method: str,
    url: str,
    *,
    params: dict[str, Any] | list[tuple[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    data: dict[str, Any] | list[tuple[str, Any]] | str | bytes | None = None,
    json: Any = None,
    sensitive_headers: tuple[str, ...] = (),
    auth: tuple[str, str] | None = None,
    max_response_chars: int = MAX_RESPONSE_CHARS,
    allow_private: bool | None = None,
) -> Response:
    """Make one guarded HTTP call and return its (possibly truncated) answer.

    `auth` is HTTP Basic (user, password). `Authorization` and `sensitive_headers` are
    dropped on every redirect. A redirect to another host is not followed: its 3xx answer
    is returned as is. More than MAX_REDIRECTS redirects raise OutboundError. Any status,
    4xx and 5xx included, is returned; only transport failures raise.
    `allow_private=None` means settings.ACTIONS_ALLOW_PRIVATE_NETWORKS.
    """
    started = time.monotonic()
    deadline = started + TOTAL_TIMEOUT
    _scheme, host, _port = _split_url(url)
    try:
        prepared = _get_session().prepare_request(
            requests.Request(
                method.upper(), url, params=params, headers=headers, data=data, json=json, auth=auth
            )
        )
    except requests.exceptions.InvalidHeader:
        raise _bad_header() from None
    except (requests.exceptions.RequestException, ValueError):
        raise OutboundError(f"Could not build the request to {host}.") from None
    if _body_chars(prepared.body) > MAX_REQUEST_CHARS:
        raise RequestTooLarge(
            f"The request body is over {MAX_REQUEST_CHARS:,} characters; it was not sent."
        )
    strip = {"authorization", *(name.lower() for name in sensitive_headers)}
    token = _deadline.set(deadline)
    try:
        for hop in range(MAX_REDIRECTS + 1):
            host = _split_url(prepared.url)[1]
            resp = _send(prepared, host, deadline, allow_private)
            target = _follow_target(prepared.url, resp)
            if target is None:
                result = _read(resp, host, started, deadline, max_response_chars)
                log.info(
                    "%s %s: %s in %d ms", prepared.method, host, result.status, result.elapsed_ms
                )
                return result
            resp.close()
            if hop == MAX_REDIRECTS:
                break
            prepared = _next_hop(prepared, resp.status_code, target, strip)
    finally:
        _deadline.reset(token)
    raise OutboundError(f"{host} redirected more than {MAX_REDIRECTS} times; gave up.")


def fetch_text(url: str, *, max_chars: int) -> str:
    """GET a document (an OpenAPI schema): its text, or OutboundError with a clear message.

    Raises ResponseTooLarge (a RequestTooLarge) when the document is over `max_chars`.
    """
    accept = "application/json, application/yaml, text/yaml, */*"
    resp = request("GET", url, headers={"Accept": accept}, max_response_chars=max_chars)
    if resp.status in REDIRECT_STATUSES and resp.headers.get("location"):
        other = urlsplit(urljoin(resp.url, resp.headers["location"])).hostname or "another host"
        raise OutboundError(
            f"The server redirected to {other}, which is not followed; import from there directly."
        )
    if not 200 <= resp.status < 300:
        phrase = http.client.responses.get(resp.status, "")
        raise OutboundError(f"The server answered {resp.status} {phrase}".rstrip() + ".")
    if resp.truncated:
        raise ResponseTooLarge(f"The document is larger than {max_chars:,} characters.")
    return resp.text
