"""Pre-flight: everything QuickBooks would refuse, checked before any call, with a message a person can act on.

`PushRefused` (not retried: a person must change something) and `MappingIncomplete` (a mapping is missing) are
raised by the pre-flight and by the targets, and shown as the entry's message.
"""

from __future__ import annotations

from attune_qbo.core.exceptions import ApplicationError


class PushRefused(ApplicationError):
    """A push that cannot succeed as it stands (a person must change something). Not retried."""

    code = "push_refused"

    def __init__(self, message: str, *, qbo_code: str = "", payload=None) -> None:
        super().__init__(message)
        self.qbo_code = qbo_code
        self.payload = payload


class MappingIncomplete(PushRefused):
    code = "mapping_incomplete"
