"""Errors of the Desktop path. Protocol errors are answered inside the SOAP conversation (a fault, or the
method's own error value); domain errors reach people through pages and messages."""

from __future__ import annotations

from attune_qbo.core.exceptions import ApplicationError, Conflict


class DesktopProtocolError(ApplicationError):
    """The Web Connector (or whoever is calling) sent something the QBWC protocol does not allow: refused
    XML, an unknown method, a missing parameter. `reason` is stable, for logs and tests."""

    code = "qbwc_protocol"

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class OtherQuickBooksActive(Conflict):
    """A company syncs to QuickBooks Online or to QuickBooks Desktop, never both at once."""

    code = "other_quickbooks_active"


class DesktopNotConnected(ApplicationError):
    code = "desktop_not_connected"
    status_code = 409
