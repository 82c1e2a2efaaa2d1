"""Typed values that cross the QuickBooks boundary."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class TokenSet:
    """What the token endpoint returned. Tokens never print (repr=False)."""

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_in: int
    refresh_token_expires_in: int | None
    refresh_token_hard_expires_in: int | None
    scopes: tuple[str, ...] = ()
    intuit_tid: str = ""


@dataclass(frozen=True)
class AuthorizationRequest:
    url: str
    state: str
    code_verifier: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class CompanyInfo:
    company_name: str
    legal_name: str
    country: str
    intuit_tid: str = ""
