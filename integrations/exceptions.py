"""The integration's errors, at two levels (DESIGN §4).

Transport errors (`QuickBooksError` and subclasses) describe what Intuit (or the network) answered. They
are translated into domain errors (`ApplicationError` subclasses) at the service boundary; views only ever
see the latter. No message here ever contains a token.
"""

from __future__ import annotations

from attune_qbo.core.exceptions import ApplicationError, Conflict, NotAllowed

# --- transport ------------------------------------------------------------------------------------------


class QuickBooksError(Exception):
    """Intuit answered with an error, or could not be reached."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str = "",
        detail: str = "",
        intuit_tid: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.detail = detail
        self.intuit_tid = intuit_tid

    def __str__(self) -> str:
        parts = [self.message]
        if self.code:
            parts.append(f"code {self.code}")
        if self.status:
            parts.append(f"HTTP {self.status}")
        if self.intuit_tid:
            parts.append(f"intuit_tid {self.intuit_tid}")
        return " · ".join(parts)


class Unavailable(QuickBooksError):
    """5xx, timeout or connection error: try again later. `answer_lost`: the request went out but its answer
    never came (a read timeout), so QuickBooks may have applied it; the retry's requestid settles it."""

    answer_lost = False


class Unauthorized(QuickBooksError):
    """401 / 3200: the access token was refused (expired or revoked)."""


class Forbidden(QuickBooksError):
    """403 / 3100: the app is not allowed this (wrong environment, missing scope)."""


class Throttled(QuickBooksError):
    """429 / 3001: too many requests. `retry_after` in seconds when Intuit said so, else None."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class StaleObject(QuickBooksError):
    """5010: the SyncToken we sent is not the current one."""


class DuplicateDocNumber(QuickBooksError):
    """6140: QuickBooks already has a transaction with this DocNumber."""


class NotFound(QuickBooksError):
    """610 (or 404): the object, or an object it references, is deleted or inactive."""


class ValidationFailed(QuickBooksError):
    """Any other 4xx Fault: QuickBooks refused the content. Retrying the same request will not help."""


class TokenEndpointError(QuickBooksError):
    """The OAuth token or revocation endpoint refused the request (an OAuth `error` code in `code`)."""


class InvalidGrant(TokenEndpointError):
    """The authorization code or refresh token is no longer valid: only a person reconnecting fixes it."""


class InvalidClient(TokenEndpointError):
    """Our client id/secret were refused: a configuration problem on our side."""


# --- domain ---------------------------------------------------------------------------------------------


class InvalidState(ApplicationError):
    code = "invalid_state"
    MESSAGE = "This QuickBooks link has expired or was not started here. Start the connection again from Settings."

    def __init__(self, reason: str = "") -> None:
        # `reason` is for logs and tests; the person sees one message whatever went wrong with the state.
        super().__init__(self.MESSAGE)
        self.reason = reason


class SignInRequired(ApplicationError):
    """The flow was started through the API: the browser finishing it must be signed in as the same user."""

    code = "sign_in_required"
    status_code = 401


class ConnectionCancelled(ApplicationError):
    code = "connection_cancelled"


class CallbackIncomplete(ApplicationError):
    code = "callback_incomplete"


class ConnectFailed(ApplicationError):
    """The code exchange failed; nothing was stored."""

    code = "connect_failed"
    status_code = 502


class RealmAlreadyConnected(Conflict):
    code = "realm_already_connected"


class NotConnected(ApplicationError):
    code = "not_connected"
    status_code = 409


class ReconnectRequired(ApplicationError):
    code = "reconnect_required"
    status_code = 409


class RefreshDeferred(ApplicationError):
    """A transient failure (5xx, timeout): the refresh will be tried again; nothing changed."""

    code = "refresh_deferred"
    status_code = 503


class ConfigurationError(ApplicationError):
    code = "quickbooks_misconfigured"
    status_code = 500


class NotCompanyAdmin(NotAllowed):
    def __init__(self) -> None:
        super().__init__("Only an admin of this company can connect or disconnect QuickBooks.")
