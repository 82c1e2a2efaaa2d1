"""Intuit's facts, in one place (sources: ../shared/QBO-REFERENCE.md, cited by section)."""

from __future__ import annotations

from dataclasses import dataclass


class Environment:
    SIMULATOR = "simulator"
    SANDBOX = "sandbox"
    PRODUCTION = "production"
    ALL = (SIMULATOR, SANDBOX, PRODUCTION)


@dataclass(frozen=True)
class Endpoints:
    authorization: str
    token: str
    revocation: str
    api_base: str  # scheme + host in front of /v3/company/<realm>/...


# §1.1 (authorize/token/revoke are shared by sandbox and production) and §2.1 (API hosts).
INTUIT_AUTHORIZATION_ENDPOINT = "https://appcenter.intuit.com/connect/oauth2"
INTUIT_TOKEN_ENDPOINT = "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer"
INTUIT_REVOCATION_ENDPOINT = "https://developer.api.intuit.com/v2/oauth2/tokens/revoke"
ENDPOINTS = {
    Environment.SANDBOX: Endpoints(
        authorization=INTUIT_AUTHORIZATION_ENDPOINT,
        token=INTUIT_TOKEN_ENDPOINT,
        revocation=INTUIT_REVOCATION_ENDPOINT,
        api_base="https://sandbox-quickbooks.api.intuit.com",
    ),
    Environment.PRODUCTION: Endpoints(
        authorization=INTUIT_AUTHORIZATION_ENDPOINT,
        token=INTUIT_TOKEN_ENDPOINT,
        revocation=INTUIT_REVOCATION_ENDPOINT,
        api_base="https://quickbooks.api.intuit.com",
    ),
}


def simulator_endpoints(base_url: str) -> Endpoints:
    """The simulator serves the same shapes under /simulator/ on our own host."""
    base = base_url.rstrip("/") + "/simulator"
    return Endpoints(
        authorization=f"{base}/oauth2/authorize",
        token=f"{base}/oauth2/v1/tokens/bearer",
        revocation=f"{base}/oauth2/v1/tokens/revoke",
        api_base=base,
    )


# §1.2 scopes
SCOPE_ACCOUNTING = "com.intuit.quickbooks.accounting"

# §1.4: opt-in header that makes the token endpoint return x_refresh_token_hard_expires_in.
HARD_EXPIRY_HEADER = "x-include-refresh-token-hard-expires-in"
# §1.4: every Intuit response carries this header; we keep it for support.
INTUIT_TID_HEADER = "intuit_tid"

# §1.5 lifetimes
ACCESS_TOKEN_LIFETIME_SECONDS = 3600
REFRESH_TOKEN_ROLLING_DAYS = 100

# §2.2 every request is served as minor version 75
MINOR_VERSION = 75

# OAuth error codes (§1.6)
OAUTH_INVALID_GRANT = "invalid_grant"
OAUTH_INVALID_CLIENT = "invalid_client"
OAUTH_ACCESS_DENIED = "access_denied"

# §2.3 and §5.1 payload rules
DOC_NUMBER_MAX_LENGTH = 21
CUSTOMER_NAME_MAX_LENGTH = 500
CUSTOMER_NAME_FORBIDDEN = ":"
MEMO_MAX_LENGTH = 1000
EMAIL_MAX_LENGTH = 100  # EmailAddress.Address (Finance.xsd); it must also contain "@" and "." (§2.3)
US_TAX_CODE_TAX = "TAX"
US_TAX_CODE_NON = "NON"
