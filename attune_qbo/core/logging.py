"""Logging filters. OAuth authorization codes and states must never reach a log line the app writes."""

from __future__ import annotations

import logging
import re

# Query-string parameters whose values are secrets (or single-use credentials) in a URL.
SECRET_QUERY_PARAMETERS = ("code", "state", "realmId", "token", "access_token", "refresh_token", "id_token")
_NAMES = "|".join(SECRET_QUERY_PARAMETERS)
_PATTERN = re.compile(r"(?P<key>(?:^|(?<=[?&;\s]))(?:" + _NAMES + r")=)[^&\s\"']*")
REDACTED = "[redacted]"


def redact_query(text: str) -> str:
    """`/callback?code=abc&state=xyz&realmId=1` → `/callback?code=[redacted]&state=[redacted]&realmId=[redacted]`."""
    return _PATTERN.sub(lambda match: match.group("key") + REDACTED, text)


class RedactQueryStringFilter(logging.Filter):
    """Attach to `django.request` and `django.server` (and any access logger): rewrites the record's message
    with secret query parameters redacted. Never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record is logged as is
            return True
        redacted = redact_query(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True
