"""Checks on the URLs and header names a builder types into the Authentication dialog.

Used by the editor's form and by the GPT file importer, so both refuse the same things.
"""

import ipaddress
import re
from functools import lru_cache
from urllib.parse import quote, unquote_plus, urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from publicsuffixlist import PublicSuffixList

# RFC 9110 token characters.
HEADER_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
# Headers that belong to the connection, not to the API: a key there would be dropped or abused.
FORBIDDEN_HEADERS = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
}
LOOPBACK_NAMES = {"localhost", "localhost.localdomain"}


@lru_cache(maxsize=1)
def _psl() -> PublicSuffixList:
    return PublicSuffixList()


def is_loopback_host(host: str) -> bool:
    host = host.lower().rstrip(".")
    if host in LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def registrable_domain(host: str) -> str:
    """eTLD+1 of a host name (`auth.example.co.uk` → `example.co.uk`); IPs and bare names as is."""
    host = host.lower().rstrip(".")
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    return _psl().privatesuffix(host) or host


def check_url_scheme(url: str, *, field: str) -> str:
    """An absolute https URL (http only for loopback when private networks are allowed)."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ValidationError(f"{field} is not a valid URL.") from None
    if not parts.scheme or not parts.hostname:
        raise ValidationError(f"{field} must be an absolute URL starting with https://.")
    if parts.scheme == "https":
        return url
    if parts.scheme == "http" and is_loopback_host(parts.hostname):
        if settings.ACTIONS_ALLOW_PRIVATE_NETWORKS:
            return url
        raise ValidationError(
            f"{field} uses http on a loopback host; that is only allowed when "
            "ACTIONS_ALLOW_PRIVATE_NETWORKS is true."
        )
    raise ValidationError(f"{field} must use https://, not {parts.scheme}://.")


def is_identity_provider(host: str) -> bool:
    """The host is one of the allowed identity providers' domains or a subdomain of one."""
    host = host.lower().rstrip(".")
    return any(
        host == domain or host.endswith("." + domain)
        for domain in (d.lower().strip(".") for d in settings.ACTIONS_IDENTITY_PROVIDERS)
    )


def check_oauth_url(url: str, *, field: str, action_domain: str) -> str:
    """Scheme rules, and the same registrable domain as the action unless a known IdP."""
    url = check_url_scheme(url, field=field)
    host = urlsplit(url).hostname or ""
    if registrable_domain(host) == registrable_domain(action_domain):
        return url
    if is_identity_provider(host):
        return url
    raise ValidationError(
        f"{field} is on {host}, but the action's API is on {action_domain}: they must share "
        f"the domain {registrable_domain(action_domain)} (or be a known identity provider)."
    )


def check_header_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise ValidationError("Custom Header Name is required for the Custom auth type.")
    if not HEADER_TOKEN.match(name):
        raise ValidationError(
            f"Custom Header Name {name!r} is not a valid HTTP header name "
            "(letters, digits and !#$%&'*+-.^_`|~ only, no spaces or colons)."
        )
    if name.lower() in FORBIDDEN_HEADERS:
        raise ValidationError(
            f"Custom Header Name cannot be {name}: that header is used by HTTP itself."
        )
    return name


# --- provider options: extra parameters, token reply path, issuer ---------------------------

# Parameters the OAuth client sets itself: an extra parameter may never override one.
AUTHORIZATION_PROTOCOL_PARAMS = frozenset(
    {"response_type", "client_id", "redirect_uri", "state", "code_challenge",
     "code_challenge_method", "scope"}
)  # fmt: skip
TOKEN_PROTOCOL_PARAMS = frozenset(
    {"grant_type", "code", "redirect_uri", "client_id", "client_secret", "code_verifier",
     "refresh_token", "scope", "client_assertion", "client_assertion_type"}
)  # fmt: skip
PARAM_KEY = re.compile(r"^[A-Za-z0-9_.:\-\[\]]{1,100}$")
TOKEN_PATH = re.compile(r"^[A-Za-z0-9_\-]{1,40}(\.[A-Za-z0-9_\-]{1,40}){0,3}$")
MAX_EXTRA_PARAMS = 20
_PARAM_SAFE = "/:,;=?@!$'()*~[]"  # kept readable; &, %, +, # and spaces are escaped


def parse_params(text: str) -> list[tuple[str, str]]:
    """`key=value` lines (or one query string) → pairs, URL-decoded. No checks: see check_params."""
    pairs = []
    for piece in (p.strip() for line in (text or "").splitlines() for p in line.split("&")):
        if piece:
            key, _, value = piece.partition("=")
            pairs.append((unquote_plus(key.strip()), unquote_plus(value.strip())))
    return pairs


def format_params(pairs) -> str:
    """Pairs as the `key=value` lines stored on an action; parse_params reads them back."""
    return "\n".join(f"{quote(k, safe=_PARAM_SAFE)}={quote(v, safe=_PARAM_SAFE)}" for k, v in pairs)


def check_params(text: str, *, field: str, reserved) -> str:
    """Extra request parameters, one `key=value` a line or a query string; returns them
    stored canonically. Refuses a key the protocol sets itself (`reserved`), naming it."""
    for piece in (p.strip() for line in text.splitlines() for p in line.split("&")):
        if piece and "=" not in piece:
            raise ValidationError(f"{field}: {piece[:60]!r} is not key=value.")
    pairs = parse_params(text)
    if len(pairs) > MAX_EXTRA_PARAMS:
        raise ValidationError(f"{field}: at most {MAX_EXTRA_PARAMS} parameters.")
    seen = set()
    for key, value in pairs:
        if not PARAM_KEY.match(key):
            raise ValidationError(
                f"{field}: {key[:60]!r} is not a parameter name (letters, digits, _ . : - [ ])."
            )
        if key.lower() in reserved:
            raise ValidationError(
                f"{field}: {key} is set by the sign-in itself and cannot be overridden."
            )
        if key in seen:
            raise ValidationError(f"{field}: {key} appears twice.")
        if any(ord(c) < 32 or ord(c) == 127 for c in value) or len(value) > 1000:
            raise ValidationError(f"{field}: the value of {key} has control characters or is long.")
        seen.add(key)
    return format_params(pairs)


def check_token_path(path: str) -> str:
    """Where the tokens sit in a token reply: a key, or dotted keys (`authed_user`, `data`)."""
    path = path.strip()
    if len(path) > 100 or not TOKEN_PATH.match(path):
        raise ValidationError(
            f"Token response path {path[:60]!r} must be a key such as authed_user or data "
            "(dotted for deeper levels, e.g. result.tokens)."
        )
    return path


def check_issuer(url: str) -> str:
    """An issuer identifier (RFC 8414 §2): https, no query and no fragment."""
    if len(url) > 2000:
        raise ValidationError("Issuer is longer than 2,000 characters.")
    url = check_url_scheme(url, field="Issuer")
    parts = urlsplit(url)
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        raise ValidationError("Issuer must not have a query (?) or a fragment (#).")
    return url


def check_provider_url(url: str, *, field: str, action_domain: str, provider_domains=()) -> str:
    """check_oauth_url, and also a URL on a preset provider's own domains when the action's
    API is on one of them (e.g. Dropbox: www.dropbox.com and api.dropboxapi.com)."""
    domains = {d.lower().strip(".") for d in provider_domains}
    if domains and registrable_domain(action_domain) in domains:
        url = check_url_scheme(url, field=field)
        if registrable_domain(urlsplit(url).hostname or "") in domains:
            return url
    return check_oauth_url(url, field=field, action_domain=action_domain)
