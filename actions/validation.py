"""Checks on the URLs and header names a builder types into the Authentication dialog.

Used by the editor's form and by the GPT file importer, so both refuse the same things.
"""

import ipaddress
import re
from functools import lru_cache
from urllib.parse import urlsplit

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
