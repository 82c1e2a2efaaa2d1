"""Redact secrets from anything that is about to be stored or logged for people to read."""

from __future__ import annotations

import re
from typing import Any

REDACTED = "[redacted]"
_SECRET_KEY_PATTERN = re.compile(r"(token|secret|password|authorization|verifier|code_challenge|cipher|key)", re.I)
_BEARER_PATTERN = re.compile(r"(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+", re.I)
_FORM_SECRET_PATTERN = re.compile(
    r"((?:access_token|refresh_token|code|code_verifier|client_secret|token)=)[^&\s\"']+", re.I
)


def redact(value: Any) -> Any:
    """Return a copy of `value` with secret-looking keys replaced and bearer/basic credentials masked."""
    if isinstance(value, dict):
        return {
            key: (REDACTED if isinstance(key, str) and _SECRET_KEY_PATTERN.search(key) else redact(item))
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


def redact_text(text: str) -> str:
    text = _BEARER_PATTERN.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    return _FORM_SECRET_PATTERN.sub(lambda m: f"{m.group(1)}{REDACTED}", text)
