"""A configurable OAuth 2.0 provider on a real local HTTP server, for the conformance suite.

One ThreadingHTTPServer in a thread serves, whatever the path prefix, `.../authorize`
(auto-approves: redirects with code and state, or with an error), `.../token`
(authorization_code and refresh_token grants), `.../revoke` (RFC 7009), `.../api/me` (checks
the bearer token) and the two discovery documents. How it answers is a `Behaviour`: one field
per way real providers differ from RFC 6749. It checks what the app sends as strictly as the
provider it mimics would, and answers each mistake with the error that provider would give.
"""

import base64
import hashlib
import json
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote_plus, urlencode, urlsplit

CLIENT_ID = "conformance client/1"
CLIENT_SECRET = "s3cret with spaces&symbols"
SCOPES = ["read", "write"]
USER = "alice@provider"


@dataclass
class Behaviour:
    # --- token replies
    reply_format: str = "json"  # json | form
    token_type: str | None = "Bearer"  # None: absent
    expiry: str = "expires_in"  # expires_in | string | expires_at | expires_at_iso | absent
    lifetime: int = 3600
    error_style: str = "status"  # status (400 + error) | http_200 (200 + error) | slack (ok: false)
    bad_code_error: str = "invalid_grant"
    envelope: str = ""  # "" | authed_user (Slack, with a bot token at the top) | data (TikTok)
    flat_refresh: bool = False  # refresh replies carry the tokens at the top (Slack rotation)
    refresh: str = "same"  # same | omit (none on refresh) | rotate | never (none at all)
    # --- what the provider requires of requests
    client_auth: str = "any"  # any | basic | post | private_key_jwt (refuses secrets)
    request_format: str = "form"  # form | json: token requests must be JSON
    pkce: str = "optional"  # optional (checked when sent) | required | rejected
    scope_separator: str = " "
    scope_parameter: str = "scope"
    authorization_params: dict = field(default_factory=dict)  # required at /authorize
    token_params: dict = field(default_factory=dict)  # required in every token request
    revocation: bool = True
    # --- discovery (RFC 8414 / OpenID) and RFC 9207
    discovery: str = ""  # "" | rfc8414 | openid
    issuer_path: str = "/tenant"
    send_iss: bool = False
    auth_methods: tuple = ("client_secret_basic", "client_secret_post")


class Refusal(Exception):
    def __init__(self, error: str, description: str, status: int = 400):
        super().__init__(description)
        self.error, self.description, self.status = error, description, status


class FakeProvider:
    def __init__(self, behaviour: Behaviour):
        self.behaviour = behaviour
        self.codes: dict[str, dict] = {}
        self.access_tokens: set[str] = set()
        self.refresh_tokens: dict[str, str] = {}  # token -> "active" | "used"
        self.grants: list[str] = []  # grant_type of every successful token request
        self.revoked: list[str] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.provider = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    # --- for the tests
    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base + path

    @property
    def issuer(self) -> str:
        return self.base + self.behaviour.issuer_path

    def expire_access_tokens(self) -> None:
        """The API refuses every access token issued so far (as after their expiry)."""
        with self._lock:
            self.access_tokens.clear()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # --- /authorize
    def authorize(self, query: dict) -> tuple[str, dict]:
        """Where to send the browser back, and with what: code and state, or an error."""
        b = self.behaviour
        back = {"state": query.get("state", "")}
        if b.send_iss:
            back["iss"] = self.issuer
        try:
            self._check_authorization(query)
        except Refusal as refusal:
            return query.get("redirect_uri", ""), {
                "error": refusal.error,
                "error_description": refusal.description,
                **back,
            }
        code = secrets.token_urlsafe(16)
        with self._lock:
            self.codes[code] = {
                "redirect_uri": query["redirect_uri"],
                "challenge": query.get("code_challenge"),
            }
        return query["redirect_uri"], {"code": code, **back}

    def _check_authorization(self, query: dict) -> None:
        b = self.behaviour
        if query.get("response_type") != "code" or query.get("client_id") != CLIENT_ID:
            raise Refusal("invalid_request", "response_type=code and the client_id are required")
        if not query.get("redirect_uri") or not query.get("state"):
            raise Refusal("invalid_request", "redirect_uri and state are required")
        requested = query.get(b.scope_parameter, "")
        if requested.split(b.scope_separator) != SCOPES:
            raise Refusal(
                "invalid_scope",
                f"{b.scope_parameter} must list {SCOPES} separated by {b.scope_separator!r}",
            )
        if b.scope_parameter != "scope" and "scope" in query:
            raise Refusal(
                "invalid_scope", "scope asks for bot scopes; user scopes go in user_scope"
            )
        for key, value in b.authorization_params.items():
            if query.get(key) != value:
                raise Refusal("invalid_request", f"{key}={value} is required")
        challenged = "code_challenge" in query
        if b.pkce == "required" and not (
            challenged and query.get("code_challenge_method") == "S256"
        ):
            raise Refusal("invalid_request", "PKCE with S256 is required")
        if b.pkce == "rejected" and challenged:
            raise Refusal("invalid_request", "code_challenge is not supported")

    # --- /token
    def token(self, headers: dict, body: bytes) -> tuple[str, dict]:
        """The grant type and the reply's fields (before token_reply shapes them)."""
        b = self.behaviour
        params = self._token_params(headers, body)
        self._check_client(headers, params)
        for key, value in b.token_params.items():
            if params.get(key) != value:
                raise Refusal("invalid_request", f"{key}={value} is required")
        grant = params.get("grant_type")
        with self._lock:
            if grant == "authorization_code":
                refresh = self._redeem_code(params)
            elif grant == "refresh_token":
                refresh = self._redeem_refresh_token(params.get("refresh_token", ""))
            else:
                raise Refusal("unsupported_grant_type", f"grant_type {grant!r}")
            access = "at-" + secrets.token_urlsafe(12)
            self.access_tokens.add(access)
            if refresh:
                self.refresh_tokens.setdefault(refresh, "active")
            self.grants.append(grant)
        fields = {"access_token": access, "scope": " ".join(SCOPES)}
        if refresh and not (grant == "refresh_token" and b.refresh == "omit"):
            fields["refresh_token"] = refresh
        return grant, fields

    def _token_params(self, headers: dict, body: bytes) -> dict:
        content_type = headers.get("content-type", "")
        if self.behaviour.request_format == "json":
            try:
                if "application/json" not in content_type:
                    raise ValueError
                return {k: str(v) for k, v in json.loads(body).items()}
            except (ValueError, AttributeError):
                raise Refusal("invalid_request", "token requests must be a JSON body") from None
        if "application/x-www-form-urlencoded" not in content_type:
            raise Refusal("invalid_request", "token requests must be form-encoded")
        return dict(parse_qsl(body.decode()))

    def _check_client(self, headers: dict, params: dict) -> None:
        b = self.behaviour
        basic = headers.get("authorization", "")
        in_header = None
        if basic.lower().startswith("basic "):
            pair = base64.b64decode(basic[6:]).decode()
            user, _, password = pair.partition(":")
            in_header = (unquote_plus(user), unquote_plus(password))  # RFC 6749 §2.3.1
        in_body = (params.get("client_id"), params.get("client_secret"))
        if b.client_auth == "private_key_jwt":
            raise Refusal("invalid_client", "client authentication must be private_key_jwt", 401)
        if in_header and in_body[1]:
            raise Refusal("invalid_request", "client credentials sent twice", 400)
        allowed = {"basic": [in_header], "post": [in_body], "any": [in_header, in_body]}
        if (CLIENT_ID, CLIENT_SECRET) not in allowed[b.client_auth]:
            method = {"basic": "an HTTP Basic header", "post": "the request body"}
            raise Refusal(
                "invalid_client", f"client credentials expected in {method.get(b.client_auth)}", 401
            )

    def _redeem_code(self, params: dict) -> str:
        b = self.behaviour
        grant = self.codes.pop(params.get("code", ""), None)
        if grant is None:
            raise Refusal(b.bad_code_error, "the code is unknown or was used")
        if params.get("redirect_uri") != grant["redirect_uri"]:
            raise Refusal("invalid_grant", "redirect_uri does not match")
        verifier = params.get("code_verifier")
        if b.pkce == "rejected" and verifier:
            raise Refusal("invalid_request", "code_verifier is not supported")
        if grant["challenge"]:
            digest = hashlib.sha256((verifier or "").encode()).digest()
            expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
            if expected != grant["challenge"]:
                raise Refusal("invalid_grant", "PKCE verification failed")
        return "" if b.refresh == "never" else "rt-" + secrets.token_urlsafe(12)

    def _redeem_refresh_token(self, token: str) -> str:
        state = self.refresh_tokens.get(token)
        if state == "used":
            raise Refusal("invalid_grant", "this refresh token was rotated and may not be reused")
        if state != "active":
            raise Refusal("invalid_grant", "unknown or revoked refresh token")
        if self.behaviour.refresh == "rotate":
            self.refresh_tokens[token] = "used"
            return "rt-" + secrets.token_urlsafe(12)
        return token

    def revoke(self, headers: dict, body: bytes) -> None:
        params = dict(parse_qsl(body.decode()))
        self._check_client(headers, params)
        token = params.get("token", "")
        with self._lock:
            self.access_tokens.discard(token)
            self.refresh_tokens.pop(token, None)
            self.revoked.append(token)

    # --- replies
    def token_reply(self, fields: dict, *, refreshing: bool) -> dict:
        """The reply's fields as this provider shapes them (token type, expiry, envelope)."""
        b = self.behaviour
        if b.token_type is not None:
            fields["token_type"] = b.token_type
        if b.expiry == "expires_in":
            fields["expires_in"] = b.lifetime
        elif b.expiry == "string":
            fields["expires_in"] = str(b.lifetime)
        elif b.expiry == "expires_at":
            fields["expires_at"] = int(datetime.now(UTC).timestamp()) + b.lifetime
        elif b.expiry == "expires_at_iso":
            moment = datetime.now(UTC) + timedelta(seconds=b.lifetime)
            fields["expires_at"] = moment.isoformat()
        if b.envelope == "authed_user" and not (refreshing and b.flat_refresh):
            fields = {
                "ok": True,
                "access_token": "xoxb-bot-token-not-for-users",
                "token_type": "bot",
                "authed_user": {"id": "U1", **fields, "token_type": "user"},
            }
        elif b.envelope == "data" and not (refreshing and b.flat_refresh):
            fields = {"data": fields, "message": "success"}
        elif b.error_style == "slack":
            fields = {"ok": True, **fields}
        return fields

    def error_reply(self, refusal: Refusal) -> tuple[int, dict]:
        fields = {"error": refusal.error, "error_description": refusal.description}
        if self.behaviour.error_style == "slack":
            return 200, {"ok": False, "error": refusal.error}
        if self.behaviour.error_style == "http_200":
            return 200, fields
        return refusal.status, fields

    def metadata(self, path: str) -> dict | None:
        """The discovery document served at `path`, if this provider publishes one there."""
        b = self.behaviour
        where = {
            "rfc8414": f"/.well-known/oauth-authorization-server{b.issuer_path}",
            "openid": f"{b.issuer_path}/.well-known/openid-configuration",
        }
        if not b.discovery or path != where[b.discovery]:
            return None
        document = {
            "issuer": self.issuer,
            "authorization_endpoint": self.issuer + "/authorize",
            "token_endpoint": self.issuer + "/token",
            "response_types_supported": ["code"],
            "token_endpoint_auth_methods_supported": list(b.auth_methods),
            "authorization_response_iss_parameter_supported": b.send_iss,
        }
        if b.pkce != "rejected":
            document["code_challenge_methods_supported"] = ["S256"]
        else:
            document["code_challenge_methods_supported"] = ["plain"]
        if b.revocation:
            document["revocation_endpoint"] = self.issuer + "/revoke"
        return document


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # quiet
        pass

    @property
    def provider(self) -> FakeProvider:
        return self.server.provider

    def _send(self, status: int, body: bytes, content_type: str, headers=()):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _reply(self, status: int, fields: dict):
        if self.provider.behaviour.reply_format == "form":
            body = urlencode({k: v for k, v in fields.items() if not isinstance(v, dict)})
            self._send(status, body.encode(), "application/x-www-form-urlencoded")
        else:
            self._send(status, json.dumps(fields).encode(), "application/json")

    def do_GET(self):  # noqa: N802 - http.server's naming
        parts = urlsplit(self.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        document = self.provider.metadata(parts.path)
        if document is not None:
            self._send(200, json.dumps(document).encode(), "application/json")
        elif parts.path.endswith("/authorize"):
            target, params = self.provider.authorize(query)
            location = f"{target}?{urlencode(params)}"
            self._send(302, b"", "text/plain", [("Location", location)])
        elif parts.path.endswith("/api/me"):
            scheme, _, token = self.headers.get("Authorization", "").partition(" ")
            if scheme.lower() == "bearer" and token in self.provider.access_tokens:
                self._send(200, json.dumps({"user": USER}).encode(), "application/json")
            else:
                self._send(
                    401, b'{"error": "invalid_token"}', "application/json",
                    [("WWW-Authenticate", 'Bearer error="invalid_token"')],
                )  # fmt: skip
        else:
            self._send(404, b"not found", "text/plain")

    def do_POST(self):  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        path = urlsplit(self.path).path
        provider = self.provider
        try:
            if path.endswith("/token"):
                grant, fields = provider.token(headers, body)
                refreshing = grant == "refresh_token"
                self._reply(200, provider.token_reply(fields, refreshing=refreshing))
            elif path.endswith("/revoke") and provider.behaviour.revocation:
                provider.revoke(headers, body)
                self._send(200, b"", "text/plain")
            else:
                self._send(404, b"not found", "text/plain")
        except Refusal as refusal:
            self._reply(*provider.error_reply(refusal))
