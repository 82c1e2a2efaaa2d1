"""The QuickBooks settings, read in one place, lazily (so tests can override them).

Secrets come from `config.keys`; everything else from Django settings (which come from the environment).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from config import keys
from integrations.quickbooks.constants import ENDPOINTS, Endpoints, Environment, simulator_endpoints


@dataclass(frozen=True)
class QuickBooksConfig:
    environment: str
    endpoints: Endpoints
    redirect_uri: str
    allowed_redirect_uris: tuple[str, ...]
    scopes: tuple[str, ...]
    use_pkce: bool
    http_timeout: float
    state_ttl_seconds: int
    refresh_window_minutes: int
    refresh_sweep_minutes: int
    unauthorized_pause: float = 2.0
    refresh_per_minute: int = 3000
    refresh_chunk: int = 200
    refresh_threads: int = 8
    sync_log_retention_days: int = 90

    @property
    def client_id(self) -> str:
        return keys.quickbooks_client_id()

    @property
    def client_secret(self) -> str:
        return keys.quickbooks_client_secret()


def rate_limits():
    """Intuit's per-realm limits as the limiter paces them (QBO-REFERENCE §3.4; `QUICKBOOKS_RATE_*`)."""
    from integrations.quickbooks.limiter import RateLimits

    return RateLimits(
        calls_per_window=int(settings.QUICKBOOKS_RATE_CALLS_PER_WINDOW),
        batches_per_window=int(settings.QUICKBOOKS_RATE_BATCHES_PER_WINDOW),
        concurrent=int(settings.QUICKBOOKS_RATE_CONCURRENT),
        window_seconds=float(settings.QUICKBOOKS_RATE_WINDOW_SECONDS),
        safety=float(settings.QUICKBOOKS_RATE_SAFETY),
        max_wait_seconds=float(settings.QUICKBOOKS_RATE_MAX_WAIT_SECONDS),
        fallback_share=float(settings.QUICKBOOKS_RATE_FALLBACK_SHARE),
    )


def realm_limiter():
    """The limiter every client of this process uses (`QUICKBOOKS_RATE_LIMITER=false` turns pacing off)."""
    from integrations.quickbooks.limiter import NoLimiter, RealmLimiter

    if not settings.QUICKBOOKS_RATE_LIMITER:
        return NoLimiter()
    return RealmLimiter(rate_limits())


def quickbooks_config() -> QuickBooksConfig:
    environment = settings.QUICKBOOKS_ENVIRONMENT
    if environment == Environment.SIMULATOR:
        defaults = simulator_endpoints(settings.QUICKBOOKS_SIMULATOR_BASE_URL)
    else:
        defaults = ENDPOINTS.get(environment, ENDPOINTS[Environment.PRODUCTION])
    endpoints = Endpoints(
        authorization=settings.QUICKBOOKS_AUTHORIZATION_ENDPOINT or defaults.authorization,
        token=settings.QUICKBOOKS_TOKEN_ENDPOINT or defaults.token,
        revocation=settings.QUICKBOOKS_REVOCATION_ENDPOINT or defaults.revocation,
        api_base=(settings.QUICKBOOKS_API_BASE_URL or defaults.api_base).rstrip("/"),
    )
    redirect_uri = settings.QUICKBOOKS_REDIRECT_URI
    return QuickBooksConfig(
        environment=environment,
        endpoints=endpoints,
        redirect_uri=redirect_uri,
        allowed_redirect_uris=tuple(settings.QUICKBOOKS_REDIRECT_URI_ALLOWLIST or [redirect_uri]),
        scopes=tuple(settings.QUICKBOOKS_SCOPES),
        use_pkce=settings.QUICKBOOKS_USE_PKCE,
        http_timeout=float(settings.QUICKBOOKS_HTTP_TIMEOUT),
        state_ttl_seconds=int(settings.QUICKBOOKS_STATE_TTL_SECONDS),
        refresh_window_minutes=int(settings.QUICKBOOKS_REFRESH_WINDOW_MINUTES),
        refresh_sweep_minutes=int(settings.QUICKBOOKS_REFRESH_SWEEP_MINUTES),
        unauthorized_pause=float(settings.QUICKBOOKS_UNAUTHORIZED_PAUSE_SECONDS),
        refresh_per_minute=_at_least(1, "QUICKBOOKS_REFRESH_PER_MINUTE"),
        refresh_chunk=_at_least(1, "QUICKBOOKS_REFRESH_CHUNK"),
        refresh_threads=_at_least(1, "QUICKBOOKS_REFRESH_THREADS"),
        sync_log_retention_days=_at_least(0, "QUICKBOOKS_SYNC_LOG_RETENTION_DAYS"),
    )


def _at_least(minimum: int, name: str) -> int:
    value = int(getattr(settings, name))
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be a whole number of at least {minimum} (it is {value}).")
    return value
