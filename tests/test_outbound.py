"""actions.outbound against real local servers: guard, pinning, deadlines, caps and redirects."""

import datetime
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
import responses
import urllib3.util.connection
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from actions import outbound

PUBLIC_IP = "93.184.216.34"  # any global address; nothing connects to it in these tests

# --- a real upstream server -----------------------------------------------------------------


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes
    client_port: int


Route = Callable[[BaseHTTPRequestHandler], None]


def answer(status=200, body=b'{"ok": true}', content_type="application/json", headers=None):
    body = body.encode() if isinstance(body, str) else body

    def route(handler):
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(body)

    return route


def redirect(location, status=302):
    return answer(status, b"", headers={"Location": location})


def slow(seconds):
    def route(handler):
        time.sleep(seconds)
        answer()(handler)

    return route


def drip_body(seconds):
    """Headers at once, then one body byte every 50 ms: each read is quick, the whole is not."""

    def route(handler):
        handler.send_response(200)
        handler.send_header("Content-Length", "1000")
        handler.end_headers()
        for _ in range(int(seconds / 0.05)):
            handler.wfile.write(b"a")
            handler.wfile.flush()
            time.sleep(0.05)

    return route


def drip_headers(seconds):
    def route(handler):
        handler.wfile.write(b"HTTP/1.1 200 OK\r\n")
        for i in range(int(seconds / 0.05)):
            handler.wfile.write(b"X-Slow-%d: 1\r\n" % i)
            handler.wfile.flush()
            time.sleep(0.05)

    return route


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like real APIs

    def _handle(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        upstream = self.server.upstream
        headers = {name.lower(): value for name, value in self.headers.items()}
        upstream.seen.append(Seen(self.command, self.path, headers, body, self.client_address[1]))
        upstream.routes.get(urlsplit(self.path).path, answer())(self)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    def log_message(self, *args):
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # the client hanging up on a dripping route is expected


class Upstream:
    """A real HTTP(S) server on 127.0.0.1 that records requests; `routes` maps a path to a reply."""

    def __init__(self, tls: ssl.SSLContext | None = None):
        self.seen: list[Seen] = []
        self.routes: dict[str, Route] = {}
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.upstream = self
        if tls:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self.port = self._server.server_address[1]
        serve = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        serve.start()

    def url(self, path="/", host="127.0.0.1", scheme="http"):
        return f"{scheme}://{host}:{self.port}{path}"

    def close(self):
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def server():
    upstream = Upstream()
    yield upstream
    upstream.close()


@pytest.fixture
def private_allowed(settings):
    settings.ACTIONS_ALLOW_PRIVATE_NETWORKS = True


@pytest.fixture
def private_refused(settings):
    settings.ACTIONS_ALLOW_PRIVATE_NETWORKS = False


@pytest.fixture
def fake_dns(monkeypatch):
    """outbound.resolve answering from `answers[host]`: one list per call, the last repeats."""
    state = SimpleNamespace(calls=[], answers={})

    def resolve(host, port):
        state.calls.append(host)
        queue = state.answers[host]
        return queue.pop(0) if len(queue) > 1 else queue[0]

    monkeypatch.setattr(outbound, "resolve", resolve)
    return state


# --- calls that work ------------------------------------------------------------------------


def test_it_sends_method_params_headers_and_json_body(server, private_allowed):
    resp = outbound.request(
        "post",
        server.url("/items"),
        params={"q": "a b"},
        headers={"X-Api-Key": "k-123"},
        json={"name": "é"},
    )

    (seen,) = server.seen
    assert (seen.method, seen.path) == ("POST", "/items?q=a+b")
    assert seen.headers["x-api-key"] == "k-123"
    assert seen.headers["host"] == f"127.0.0.1:{server.port}"
    assert json.loads(seen.body) == {"name": "é"}
    assert (resp.status, resp.json(), resp.truncated) == (200, {"ok": True}, False)
    assert resp.headers["content-type"] == "application/json"
    assert resp.url == server.url("/items?q=a+b")
    assert resp.elapsed_ms >= 0


def test_it_returns_error_statuses_instead_of_raising(server, private_allowed):
    server.routes["/missing"] = answer(404, "nope", content_type="text/plain")

    resp = outbound.request("GET", server.url("/missing"))

    assert (resp.status, resp.text) == (404, "nope")
    with pytest.raises(ValueError):
        resp.json()


def test_it_sends_basic_auth(server, private_allowed):
    outbound.request("GET", server.url(), auth=("user", "pw"))

    assert server.seen[0].headers["authorization"] == "Basic dXNlcjpwdw=="


def test_it_reuses_pooled_connections(server, private_allowed):
    outbound.request("GET", server.url("/one"))
    outbound.request("GET", server.url("/two"))

    assert server.seen[0].client_port == server.seen[1].client_port


def test_it_ignores_proxy_environment_variables(server, private_allowed, monkeypatch):
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # nothing listens there

    assert outbound.request("GET", server.url()).status == 200


def test_it_keeps_no_cookies_between_calls(server, private_allowed):
    server.routes["/login"] = answer(headers={"Set-Cookie": "session=alice"})

    outbound.request("GET", server.url("/login"))
    outbound.request("GET", server.url("/next"))

    assert "cookie" not in server.seen[1].headers


def test_it_stays_compatible_with_responses_mocks(monkeypatch):
    monkeypatch.setattr(outbound, "resolve", lambda host, port: pytest.fail("resolved"))
    with responses.RequestsMock() as mock:
        mock.get("https://api.example.com/x", json={"mocked": True})

        resp = outbound.request("GET", "https://api.example.com/x")

    assert resp.json() == {"mocked": True}


# --- deadlines ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "route", [slow(3), drip_headers(3), drip_body(3)], ids=["slow", "drip_headers", "drip_body"]
)
def test_it_enforces_a_deadline_on_the_whole_call(server, private_allowed, monkeypatch, route):
    monkeypatch.setattr(outbound, "TOTAL_TIMEOUT", 0.5)
    server.routes["/slow"] = route

    started = time.monotonic()
    with pytest.raises(outbound.UpstreamTimeout, match="127.0.0.1 did not answer within 0.5 s"):
        outbound.request("GET", server.url("/slow"))

    assert time.monotonic() - started < 1.5


def test_it_reports_a_refused_connection(private_allowed):
    with socket.socket() as sock:  # a port that was free a moment ago
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    with pytest.raises(outbound.UpstreamUnreachable, match="Could not connect to 127.0.0.1"):
        outbound.request("GET", f"http://127.0.0.1:{port}/")


# --- size caps ------------------------------------------------------------------------------


def test_it_truncates_large_responses_without_reading_them_whole(
    server, private_allowed, monkeypatch
):
    server.routes["/big"] = answer(body="x" * 5_000_000, content_type="text/plain")
    read = []
    original = outbound._DeadlineReader.readinto

    def counting_readinto(self, buffer):
        count = original(self, buffer)
        read.append(count or 0)
        return count

    monkeypatch.setattr(outbound._DeadlineReader, "readinto", counting_readinto)

    resp = outbound.request("GET", server.url("/big"))

    assert (len(resp.text), resp.truncated) == (100_000, True)
    assert 100_000 <= sum(read) < 100_000 + 4 * outbound.CHUNK_BYTES


@pytest.mark.parametrize(("body", "truncated"), [("é" * 10, False), ("é" * 11, True)])
def test_it_counts_the_cap_in_characters(server, private_allowed, body, truncated):
    server.routes["/text"] = answer(body=body, content_type="text/plain; charset=utf-8")

    resp = outbound.request("GET", server.url("/text"), max_response_chars=10)

    assert (resp.text, resp.truncated) == ("é" * 10, truncated)


@pytest.mark.parametrize(
    "body",
    [{"data": "x" * 100_001}, {"json": {"text": "x" * 100_000}}, {"data": b"x" * 100_001}],
    ids=["str", "json", "bytes"],
)
def test_it_refuses_large_request_bodies_before_sending(server, private_allowed, body):
    with pytest.raises(outbound.RequestTooLarge, match="over 100,000 characters"):
        outbound.request("POST", server.url(), **body)

    assert server.seen == []


# --- redirects ------------------------------------------------------------------------------


def test_it_follows_same_host_redirects_without_credentials(server, private_allowed):
    server.routes["/start"] = redirect("/end")

    resp = outbound.request(
        "GET",
        server.url("/start"),
        headers={"Authorization": "Bearer t0k", "X-Api-Key": "k-123", "X-Trace": "keep"},
        sensitive_headers=("x-api-key",),
    )

    first, second = server.seen
    assert (first.headers["authorization"], first.headers["x-api-key"]) == ("Bearer t0k", "k-123")
    assert second.path == "/end"
    assert "authorization" not in second.headers and "x-api-key" not in second.headers
    assert second.headers["x-trace"] == "keep"
    assert (resp.status, resp.url) == (200, server.url("/end"))


def test_it_drops_basic_auth_on_redirect(server, private_allowed):
    server.routes["/start"] = redirect("/end")

    outbound.request("GET", server.url("/start"), auth=("user", "pw"))

    assert "authorization" in server.seen[0].headers
    assert "authorization" not in server.seen[1].headers


@pytest.mark.parametrize(
    ("status", "method", "body"),
    [(301, "GET", b""), (302, "GET", b""), (303, "GET", b""), (307, "POST", b"a=1")],
)
def test_it_changes_post_to_get_like_browsers(server, private_allowed, status, method, body):
    server.routes["/form"] = redirect("/done", status=status)

    outbound.request("POST", server.url("/form"), data={"a": "1"})

    assert (server.seen[1].method, server.seen[1].body) == (method, body)
    assert ("content-type" in server.seen[1].headers) == bool(body)


def test_it_does_not_follow_redirects_to_another_host(server, private_allowed):
    server.routes["/start"] = redirect(server.url("/end", host="localhost"))

    resp = outbound.request("GET", server.url("/start"), headers={"Authorization": "Bearer t0k"})

    assert (resp.status, resp.headers["location"]) == (302, server.url("/end", host="localhost"))
    assert [seen.path for seen in server.seen] == ["/start"]


@pytest.mark.parametrize(
    ("location", "followed"),
    [
        ("/next", True),
        ("http://api.example.com/next", True),
        ("https://api.example.com/next", True),  # the upgrade of the same host
        ("https://api.example.com:8443/next", False),
        ("http://api.example.com:8080/next", False),
        ("http://other.example.com/next", False),
        ("ftp://api.example.com/next", False),
    ],
)
def test_it_decides_which_redirects_stay_on_the_same_host(location, followed):
    resp = SimpleNamespace(status_code=302, headers={"Location": location})

    target = outbound._follow_target("http://api.example.com/start", resp)

    assert (target is not None) == followed


@pytest.mark.parametrize(("hops", "ok"), [(5, True), (6, False)])
def test_it_follows_at_most_five_redirects(server, private_allowed, hops, ok):
    for n in range(hops, 0, -1):
        server.routes[f"/hop/{n}"] = redirect(f"/hop/{n - 1}")

    if ok:
        assert outbound.request("GET", server.url(f"/hop/{hops}")).status == 200
    else:
        with pytest.raises(outbound.OutboundError, match="redirected more than 5 times"):
            outbound.request("GET", server.url(f"/hop/{hops}"))
    assert len(server.seen) == 6


# --- the address guard ----------------------------------------------------------------------

PRIVATE_IPS = [
    "127.0.0.1",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",
    "100.64.0.1",
    "198.18.0.1",
    "224.0.0.1",
    "240.0.0.1",
    "0.0.0.0",
    "::1",
    "::",
    "fc00::1",
    "fd00:ec2::254",
    "fe80::1",
    "ff02::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "64:ff9b::a9fe:a9fe",  # NAT64 form of 169.254.169.254
    "2002:7f00:1::",  # 6to4 form of 127.0.0.1
]


@pytest.mark.parametrize("ip", PRIVATE_IPS)
def test_it_refuses_host_names_that_resolve_to_private_addresses(fake_dns, private_refused, ip):
    fake_dns.answers["api.example.com"] = [[ip]]

    with pytest.raises(outbound.AddressRefused) as refused:
        outbound.request("GET", "https://api.example.com/x")
    with pytest.raises(outbound.AddressRefused):
        outbound.check_url("https://api.example.com/x")

    assert str(refused.value).startswith(f"api.example.com resolves to {ip}, a")
    assert str(refused.value).endswith("calls to private networks are not allowed.")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://2130706433/",
        "http://0x7f.1/",
        "http://0177.0.0.1/",
        "http://127.1/",
        "http://0/",
        "http://[::1]/",
        "http://[::ffff:7f00:1]/",
        "http://[::ffff:127.0.0.1]:8080/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]/",
        "https://10.0.0.1/",
    ],
)
def test_it_refuses_private_ip_literals_in_any_spelling(private_refused, url):
    with pytest.raises(outbound.AddressRefused, match="calls to private networks are not allowed"):
        outbound.check_url(url)
    with pytest.raises(outbound.AddressRefused):
        outbound.request("GET", url)


@pytest.mark.parametrize("host", ["metadata.google.internal", "metadata", "instance-data."])
def test_it_refuses_metadata_host_names_without_resolving(fake_dns, private_refused, host):
    with pytest.raises(outbound.AddressRefused, match="cloud metadata host name"):
        outbound.check_url(f"http://{host}/computeMetadata/v1/")
    assert fake_dns.calls == []


@pytest.mark.parametrize(
    "url",
    ["ftp://example.com/x", "file:///etc/passwd", "gopher://example.com/", "//example.com/x"],
)
def test_it_refuses_other_schemes(private_allowed, url):
    with pytest.raises(outbound.AddressRefused, match="Only http and https"):
        outbound.request("GET", url)


def test_it_allows_public_addresses(fake_dns, private_refused):
    fake_dns.answers["api.example.com"] = [[PUBLIC_IP]]

    outbound.check_url("https://api.example.com/x")


def test_it_lets_the_caller_override_the_setting(private_refused):
    outbound.check_url("http://127.0.0.1/", allow_private=True)


def test_it_reads_the_setting_at_call_time(settings):
    settings.ACTIONS_ALLOW_PRIVATE_NETWORKS = True
    outbound.check_url("http://127.0.0.1/")
    settings.ACTIONS_ALLOW_PRIVATE_NETWORKS = False
    with pytest.raises(outbound.AddressRefused):
        outbound.check_url("http://127.0.0.1/")


def test_it_checks_every_resolved_address(fake_dns, private_refused):
    fake_dns.answers["api.example.com"] = [[PUBLIC_IP, "127.0.0.1"]]

    with pytest.raises(outbound.AddressRefused, match="resolves to 127.0.0.1, a loopback"):
        outbound.request("GET", "https://api.example.com/x")


def test_it_reports_names_that_do_not_resolve(private_refused):
    with pytest.raises(outbound.UpstreamUnreachable, match="could not be resolved"):
        outbound.check_url("https://no-such-host.invalid/")


# --- DNS rebinding: resolved once, connected to what was checked ---------------------------


def test_it_connects_to_the_checked_address_with_the_host_name(server, fake_dns, private_allowed):
    fake_dns.answers["rebind.test"] = [["127.0.0.1"], ["10.9.9.9"]]

    resp = outbound.request("GET", server.url("/x", host="rebind.test"))

    assert resp.status == 200
    assert fake_dns.calls == ["rebind.test"]
    assert server.seen[0].headers["host"] == f"rebind.test:{server.port}"


def test_it_never_resolves_twice(fake_dns, private_refused, monkeypatch):
    fake_dns.answers["rebind.test"] = [[PUBLIC_IP], ["127.0.0.1"]]
    connected_to = []

    def fake_connect(address, *args, **kwargs):
        connected_to.append(address)
        raise ConnectionRefusedError

    monkeypatch.setattr(urllib3.util.connection, "create_connection", fake_connect)

    with pytest.raises(outbound.UpstreamUnreachable):
        outbound.request("GET", "http://rebind.test/")

    assert fake_dns.calls == ["rebind.test"]
    assert connected_to == [(PUBLIC_IP, 80)]


# --- TLS to a pinned address ----------------------------------------------------------------


def _self_signed(tmp_path, name):
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@pytest.mark.parametrize(("cert_name", "ok"), [("pinned.test", True), ("other.test", False)])
def test_it_checks_tls_against_the_host_name(
    tmp_path, fake_dns, private_allowed, monkeypatch, cert_name, ok
):
    cert_file, key_file = _self_signed(tmp_path, cert_name)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    sni = []
    context.sni_callback = lambda sock, name, ctx: sni.append(name)
    monkeypatch.setattr("requests.adapters.DEFAULT_CA_BUNDLE_PATH", str(cert_file))
    fake_dns.answers["pinned.test"] = [["127.0.0.1"]]
    tls_server = Upstream(tls=context)
    try:
        url = tls_server.url(host="pinned.test", scheme="https")
        if ok:
            assert outbound.request("GET", url).status == 200
            assert tls_server.seen[0].headers["host"] == f"pinned.test:{tls_server.port}"
        else:
            with pytest.raises(outbound.UpstreamUnreachable, match="TLS connection to pinned"):
                outbound.request("GET", url)
    finally:
        tls_server.close()
    assert sni[0] == "pinned.test"


# --- messages -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers", [{"X-Key": "s3cret\r\nX-Evil: 1"}, {"X:Key": "s3cret"}], ids=["value", "name"]
)
def test_it_keeps_header_values_out_of_error_messages(server, private_allowed, headers):
    with pytest.raises(outbound.OutboundError, match="header has a name or value") as error:
        outbound.request("GET", server.url(), headers=headers)

    assert "s3cret" not in str(error.value)
    assert error.value.__suppress_context__  # the original message may quote the value
    assert server.seen == []


# --- fetch_text -----------------------------------------------------------------------------


def test_it_fetches_a_document(server, private_allowed):
    server.routes["/openapi.yaml"] = answer(body="openapi: 3.1.0\n", content_type="text/yaml")

    assert outbound.fetch_text(server.url("/openapi.yaml"), max_chars=1000) == "openapi: 3.1.0\n"
    assert server.seen[0].headers["accept"].startswith("application/json, application/yaml")


def test_it_reports_a_missing_document(server, private_allowed):
    server.routes["/gone"] = answer(404, "")

    with pytest.raises(outbound.OutboundError, match=r"^The server answered 404 Not Found\.$"):
        outbound.fetch_text(server.url("/gone"), max_chars=1000)


def test_it_refuses_a_document_over_the_limit(server, private_allowed):
    server.routes["/huge"] = answer(body="x" * 1001, content_type="text/yaml")

    with pytest.raises(outbound.RequestTooLarge, match="larger than 1,000 characters"):
        outbound.fetch_text(server.url("/huge"), max_chars=1000)


def test_it_explains_a_redirect_to_another_host(server, private_allowed):
    server.routes["/moved"] = redirect("https://elsewhere.example.org/openapi.json", status=301)

    with pytest.raises(outbound.OutboundError, match="redirected to elsewhere.example.org"):
        outbound.fetch_text(server.url("/moved"), max_chars=1000)


def test_it_resolves_dot_localhost_names_to_loopback_and_guards_them(server, settings):
    assert outbound.resolve("keys.localhost", 80) == ["127.0.0.1"]
    url = server.url("/ok").replace("127.0.0.1", "keys.localhost")
    settings.ACTIONS_ALLOW_PRIVATE_NETWORKS = False
    with pytest.raises(outbound.AddressRefused):
        outbound.request("GET", url)
    settings.ACTIONS_ALLOW_PRIVATE_NETWORKS = True
    assert outbound.request("GET", url).status == 200
