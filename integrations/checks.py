"""System checks: a misconfigured QuickBooks integration says so at start-up, not at the first sync."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, Tags, register
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError

from config import keys
from integrations.quickbooks.constants import Environment


@register()
def check_quickbooks_secrets(app_configs=None, **kwargs):
    problems = []
    for reader, hint in (
        (keys.quickbooks_client_id, "the Client ID from Intuit's developer portal"),
        (keys.quickbooks_client_secret, "the Client Secret from Intuit's developer portal"),
        (keys.quickbooks_token_keys, "one or more Fernet keys, newest first, to encrypt tokens at rest"),
    ):
        try:
            reader()
        except keys.MissingSecret as error:
            problems.append(Error(str(error), hint=f"Set it to {hint}.", id="attune.E001"))
    try:
        from integrations.fields import token_cipher

        token_cipher()
    except keys.MissingSecret:
        pass  # reported above
    except ImproperlyConfigured as error:
        problems.append(
            Error(
                str(error),
                hint='Generate a key with: python -c "from cryptography.fernet import Fernet; '
                'print(Fernet.generate_key().decode())"',
                id="attune.E002",
            )
        )
    return problems


def _is_loopback(url: str) -> bool:
    from integrations.quickbooks.oauth import is_loopback_http

    return is_loopback_http(url)


@register()
def check_quickbooks_environment(app_configs=None, **kwargs):
    from integrations.conf import quickbooks_config

    problems = []
    environment = settings.QUICKBOOKS_ENVIRONMENT
    if environment not in Environment.ALL:
        return [
            Error(
                f"QUICKBOOKS_ENVIRONMENT is {environment!r}.",
                hint="Use simulator, sandbox or production.",
                id="attune.E003",
            )
        ]
    if environment == Environment.SIMULATOR and not settings.SECRETS_ALLOW_DEV_DEFAULTS:
        problems.append(
            Error(
                "The QuickBooks simulator cannot be used with production settings.",
                hint="Set QUICKBOOKS_ENVIRONMENT to sandbox or production.",
                id="attune.E004",
            )
        )
    config = quickbooks_config()
    if config.redirect_uri not in config.allowed_redirect_uris:
        problems.append(
            Error(
                f"QUICKBOOKS_REDIRECT_URI {config.redirect_uri!r} is not in QUICKBOOKS_REDIRECT_URI_ALLOWLIST.",
                id="attune.E005",
            )
        )
    endpoints = config.endpoints
    for name, url in (
        ("authorization", endpoints.authorization),
        ("token", endpoints.token),
        ("revocation", endpoints.revocation),
        ("API", endpoints.api_base),
    ):
        if urlsplit(url).scheme != "https" and not _is_loopback(url):
            problems.append(
                Error(
                    f"The QuickBooks {name} endpoint {url!r} is not https.",
                    hint="Only loopback addresses may use plain http.",
                    id="attune.E006",
                )
            )
    return problems


@register(Tags.database)
def check_stored_tokens_decrypt(app_configs=None, databases=None, **kwargs):
    """With `manage.py check --database default`: one stored token must decrypt with the current keys."""
    if not databases:
        return []
    from integrations.fields import TokenDecryptionError
    from integrations.models import QuickBooksConnection

    try:
        sample = QuickBooksConnection.objects.exclude(refresh_token_cipher=None).first()
        if sample is not None:
            sample.refresh_token_cipher.reveal()
    except TokenDecryptionError as error:
        return [Error(str(error), id="attune.E007")]
    except (ImproperlyConfigured, keys.MissingSecret):
        return []  # reported by check_quickbooks_secrets
    except DatabaseError:
        return []  # not migrated yet (migrate runs the checks before it creates the tables)
    return []
