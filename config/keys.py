"""The one module that reads secrets.

Everything secret (Django's signing key, Intuit's client credentials, the webhook verifier token, the
Fernet keys that encrypt QuickBooks tokens at rest) is read here, lazily, at the moment it is needed,
never at import time in application code. Local and test settings set `SECRETS_ALLOW_DEV_DEFAULTS`,
which lets the well-known development values below stand in; production settings do not, so a missing
secret there is an error (reported by the system check `attune.E001` at start-up).
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from config.env import env

# Development-only values. They are public (they are in this file), so they protect nothing; production
# refuses them because it never allows dev defaults.
DEV_SECRET_KEY = "dev-only-insecure-secret-key-do-not-use-in-production-8c1f"
DEV_QUICKBOOKS_CLIENT_ID = "attune-dev-client"
DEV_QUICKBOOKS_CLIENT_SECRET = "attune-dev-secret"
DEV_QUICKBOOKS_WEBHOOK_VERIFIER_TOKEN = "attune-dev-webhook-verifier"
# A valid Fernet key (32 url-safe base64 bytes) for development and tests only.
DEV_QUICKBOOKS_TOKEN_KEY = "ZGV2LW9ubHkta2V5LWF0dHVuZS1xYm8tMzItYnl0ZXM="


class MissingSecret(ImproperlyConfigured):
    """A secret is not set in the environment and no development default is allowed."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"{name} is not set. Set it in the environment (see .env.example).")


def _dev_defaults_allowed() -> bool:
    from django.conf import settings

    return bool(getattr(settings, "SECRETS_ALLOW_DEV_DEFAULTS", False))


def _read(name: str, dev_default: str) -> str:
    value = env.str(name, default="").strip()
    if value:
        return value
    if _dev_defaults_allowed():
        return dev_default
    raise MissingSecret(name)


def django_secret_key(*, allow_dev_default: bool) -> str:
    """Read at settings time, so the caller says whether the dev default may stand in."""
    value = env.str("DJANGO_SECRET_KEY", default="").strip()
    if value:
        return value
    if allow_dev_default:
        return DEV_SECRET_KEY
    raise MissingSecret("DJANGO_SECRET_KEY")


def quickbooks_client_id() -> str:
    return _read("QUICKBOOKS_CLIENT_ID", DEV_QUICKBOOKS_CLIENT_ID)


def quickbooks_client_secret() -> str:
    return _read("QUICKBOOKS_CLIENT_SECRET", DEV_QUICKBOOKS_CLIENT_SECRET)


def quickbooks_webhook_verifier_token() -> str:
    return _read("QUICKBOOKS_WEBHOOK_VERIFIER_TOKEN", DEV_QUICKBOOKS_WEBHOOK_VERIFIER_TOKEN)


def quickbooks_token_keys() -> list[str]:
    """Fernet keys for tokens at rest, newest first (comma-separated in `QUICKBOOKS_TOKEN_KEYS`)."""
    raw = _read("QUICKBOOKS_TOKEN_KEYS", DEV_QUICKBOOKS_TOKEN_KEY)
    keys = [part.strip() for part in raw.split(",") if part.strip()]
    if not keys:
        raise MissingSecret("QUICKBOOKS_TOKEN_KEYS")
    return keys
