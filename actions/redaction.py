"""A logging filter that redacts credentials from every log line, including tracebacks.

The app never logs a secret on purpose; this is the net under that rule, for what third-party
code (urllib3, oauthlib, Django) might print: bearer and basic credentials, token-ish query
and form parameters, JSON token fields and key headers.
"""

import logging
import re

REDACTED = "[redacted]"
SENSITIVE_NAMES = (
    r"access_token|refresh_token|id_token|client_secret|code_verifier|code|api_key|apikey"
    r"|password|token|secret|state|assertion"
)
PATTERNS = [
    # Authorization: Bearer abc / Basic abc
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"), r"\1 " + REDACTED),
    # access_token=abc&... in URLs and form bodies
    (re.compile(rf"(?i)\b({SENSITIVE_NAMES})=([^&\s\"']+)"), r"\1=" + REDACTED),
    # "access_token": "abc" in JSON, and 'access_token': 'abc' in reprs
    (
        re.compile(rf"(?i)([\"']({SENSITIVE_NAMES})[\"']\s*:\s*)([\"'])(.*?)(\3)"),
        r"\1\3" + REDACTED + r"\5",
    ),
    # X-Api-Key: abc, X-Demo-Key: abc, and other *-key / *-token headers
    (
        re.compile(r"(?i)\b([a-z0-9-]*(?:key|token|secret))(\s*:\s*)([^\s,;'\"]+)"),
        r"\1\2" + REDACTED,
    ),
]


def redact(text: str) -> str:
    for pattern, replacement in PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True
