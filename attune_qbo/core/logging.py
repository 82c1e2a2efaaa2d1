"""Logging filters. OAuth authorization codes and states must never reach a log line the app writes."""

from __future__ import annotations

import logging
import re

# Query-string parameters whose values are secrets (or single-use credentials) in a URL.
SECRET_QUERY_PARAMETERS = ("code", "state", "realmId", "token", "access_token", "refresh_token", "id_token")
# Names that are secrets wherever `name=value` appears (a token is never anything else).
SECRET_ANYWHERE = ("token", "access_token", "refresh_token", "id_token")
_IN_QUERY = "|".join(SECRET_QUERY_PARAMETERS)
_ANYWHERE = "|".join(SECRET_ANYWHERE)
# `code`, `state` and `realmId` are secrets in a query string (after `?`, `&` or `;`, or a form body at the start of a
# message); after a space they are our own log fields (`code=6240` is QuickBooks' error code) and stay readable.
_PATTERN = re.compile(
    r"(?P<key>(?:(?:^|(?<=[?&;]))(?:" + _IN_QUERY + r")|(?:(?<=\s))(?:" + _ANYWHERE + r"))=)[^&\s\"']*"
)
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
