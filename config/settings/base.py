"""Settings shared by every environment. All values come from the environment through `config.env.env`;
secrets only through `config.keys`."""

from config.env import BASE_DIR, env

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRETS_ALLOW_DEV_DEFAULTS = False
# SECRET_KEY is set by each environment's module (local/test allow the dev default, production does not).
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "django_q",
    "axes",
    "csp",
    "attune_qbo.core",
    "attune_qbo.tenants",
    "attune_qbo.billing",
    "attune_qbo.audit",
    "integrations",
    "integrations.simulator",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "attune_qbo.core.middleware.PermissionsPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "attune_qbo.core.middleware.RequestHygieneMiddleware",
    "attune_qbo.tenants.middleware.CurrentCompanyMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into the lock-out page.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses locked-out sign-ins before checking passwords
    "django.contrib.auth.backends.ModelBackend",
]

# --- Browser security headers (every environment; production adds HTTPS-only ones) --------------------------
# Content-Security-Policy (django-csp): scripts and styles from our own origin only, no inline script or
# style anywhere (templates load static/js/*.js), no framing. Forms may also go to Intuit's authorize page
# (Connect QuickBooks posts, then redirects there). The offline simulator's pages are not ours to police
# (it is not installed in production).
from csp.constants import NONE, SELF  # noqa: E402

QUICKBOOKS_AUTHORIZE_ORIGINS = env.list("QUICKBOOKS_AUTHORIZE_ORIGINS", default=["https://appcenter.intuit.com"])
CONTENT_SECURITY_POLICY = {
    "EXCLUDE_URL_PREFIXES": ["/simulator/"],
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [SELF, *QUICKBOOKS_AUTHORIZE_ORIGINS],
    },
}
# Features no page of ours uses are switched off for every page (attune_qbo.core.middleware).
PERMISSIONS_POLICY = (
    "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), "
    "payment=(), usb=(), interest-cohort=()"
)
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# Idle timeout: a session ends after this many seconds without a request (each request renews it).
SESSION_IDLE_TIMEOUT_SECONDS = env.int("SESSION_IDLE_TIMEOUT_SECONDS", default=30 * 60)
SESSION_COOKIE_AGE = SESSION_IDLE_TIMEOUT_SECONDS
SESSION_SAVE_EVERY_REQUEST = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# The Swagger UI and the OpenAPI schema need a signed-in user when this is on (production turns it on).
API_DOCS_REQUIRE_SIGN_IN = env.bool("API_DOCS_REQUIRE_SIGN_IN", default=False)

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "attune_qbo.tenants.context_processors.current_company",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several threads (web + simulator in one runserver) and a worker process share one file.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "billing:invoice-list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("DJANGO_TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# The invoice page posts about 6 fields per line (billing.models.INVOICE_MAX_LINES = 250) plus the
# invoice's own: Django's default of 1000 would answer a bare 400 before the form could say "at most 250
# lines". tests/billing/test_validation.py keeps the two in step.
DATA_UPLOAD_MAX_NUMBER_FIELDS = 2000
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440  # 2.5 MB, Django's default, also the API's JSON limit (413 beyond)

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]

EMAIL_BACKEND = env.str("DJANGO_EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env.str("DJANGO_DEFAULT_FROM_EMAIL", default="attune-qbo <noreply@localhost>")

# --- Django REST framework ------------------------------------------------------------------------
REST_FRAMEWORK = {
    # Token first, so a request with no credentials gets 401 (with WWW-Authenticate), not 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "attune_qbo.tenants.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["attune_qbo.tenants.permissions.IsCompanyMember"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 25,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PARSER_CLASSES": [
        "attune_qbo.core.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "EXCEPTION_HANDLER": "attune_qbo.core.api.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        "attune_qbo.core.throttling.AnonymousThrottle",
        "attune_qbo.core.throttling.UserThrottle",
        "attune_qbo.core.throttling.ScopedThrottle",
    ],
}
# Per IP (anon), per user, and per user for the QuickBooks endpoints that call Intuit. A 429 says when to
# come back. Failed API-token attempts are limited per IP too (attune_qbo.core.tokens).
API_THROTTLE_RATES = {
    "anon": env.str("API_THROTTLE_ANON", default="60/min"),
    "user": env.str("API_THROTTLE_USER", default="600/min"),
    "token-failures": env.str("API_THROTTLE_TOKEN_FAILURES", default="20/hour"),
    "quickbooks-connect": env.str("API_THROTTLE_QUICKBOOKS_CONNECT", default="10/hour"),
    "quickbooks-sync": env.str("API_THROTTLE_QUICKBOOKS_SYNC", default="60/min"),
}

# --- Sign-in brute-force protection (django-axes) ----------------------------------------------------
# After AXES_FAILURE_LIMIT failed sign-ins for one username (from anywhere) or from one IP address (for any
# username), that username / address is locked for AXES_COOLOFF_TIME. Admins unlock in the Django admin
# (Axes → Access attempts: delete the rows) or with `manage.py axes_reset_username <name>` / `axes_reset_ip`.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=0.25)  # hours: 15 minutes
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "attune_qbo.tenants.lockout.lockout_response"
AXES_HTTP_RESPONSE_CODE = 429
AXES_IPWARE_PROXY_COUNT = env.int("AXES_PROXY_COUNT", default=0) or None  # proxies in front, in production
SPECTACULAR_SETTINGS = {
    "TITLE": "attune-qbo API",
    "DESCRIPTION": (
        "Invoicing and its QuickBooks Online integration. Every object belongs to your company.\n\n"
        "**Authentication:** an admin creates an API token under "
        "[Settings → API tokens](/settings/api-tokens/) (the key is shown once). Send it as "
        '`Authorization: Token <key>`. Errors are JSON `{"code", "message"}`; too many requests answer 429.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SERVE_PERMISSIONS": ["attune_qbo.core.api.ApiDocsPermission"],
}

# --- django-q2 --------------------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
Q_CLUSTER = {
    "name": "attune-qbo",
    "workers": env.int("Q_WORKERS", default=2),
    "timeout": 120,
    "retry": 300,
    "max_attempts": 1,
    "catch_up": False,
    "orm": "default",
    "poll": 1,
    "save_limit": 1000,
    "ack_failures": True,
}
if REDIS_URL:
    Q_CLUSTER.pop("orm")
    Q_CLUSTER["redis"] = REDIS_URL

# --- Logging ----------------------------------------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
# OAuth codes and states arrive in the callback's query string: the request/access loggers redact them
# (attune_qbo.core.logging). A production access log in front of Django must drop them too (runbook).
LOG_FILTERS = {"redact_query": {"()": "attune_qbo.core.logging.RedactQueryStringFilter"}}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": LOG_FILTERS,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact_query"]}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "django.request": {"filters": ["redact_query"]},
        "django.server": {"handlers": ["console"], "filters": ["redact_query"], "propagate": False},
    },
}

# --- QuickBooks Online ------------------------------------------------------------------------------
# `simulator` (our offline QuickBooks, mounted at /simulator/), `sandbox` or `production`.
QUICKBOOKS_ENVIRONMENT = env.str("QUICKBOOKS_ENVIRONMENT", default="production")
# Where the simulator is served (the app calls its own port, so runserver must serve concurrently).
QUICKBOOKS_SIMULATOR_BASE_URL = env.str("QUICKBOOKS_SIMULATOR_BASE_URL", default="http://127.0.0.1:8000")
# Endpoint overrides: any standards-compliant OAuth 2.0 server can stand in for Intuit's.
QUICKBOOKS_AUTHORIZATION_ENDPOINT = env.str("QUICKBOOKS_AUTHORIZATION_ENDPOINT", default="")
QUICKBOOKS_TOKEN_ENDPOINT = env.str("QUICKBOOKS_TOKEN_ENDPOINT", default="")
QUICKBOOKS_REVOCATION_ENDPOINT = env.str("QUICKBOOKS_REVOCATION_ENDPOINT", default="")
QUICKBOOKS_API_BASE_URL = env.str("QUICKBOOKS_API_BASE_URL", default="")
QUICKBOOKS_REDIRECT_URI = env.str(
    "QUICKBOOKS_REDIRECT_URI", default="http://127.0.0.1:8000/api/v1/integrations/quickbooks/callback"
)
# The redirect URIs registered with Intuit for this deployment; QUICKBOOKS_REDIRECT_URI must be one of them.
QUICKBOOKS_REDIRECT_URI_ALLOWLIST = env.list("QUICKBOOKS_REDIRECT_URI_ALLOWLIST", default=[QUICKBOOKS_REDIRECT_URI])
QUICKBOOKS_SCOPES = env.list("QUICKBOOKS_SCOPES", default=["com.intuit.quickbooks.accounting"])
# Intuit does not advertise PKCE (QBO-REFERENCE §0 #10); turn it off for an environment that rejects it.
QUICKBOOKS_USE_PKCE = env.bool("QUICKBOOKS_USE_PKCE", default=True)
QUICKBOOKS_HTTP_TIMEOUT = env.float("QUICKBOOKS_HTTP_TIMEOUT", default=30.0)
QUICKBOOKS_STATE_TTL_SECONDS = env.int("QUICKBOOKS_STATE_TTL_SECONDS", default=600)
# The refresh sweep runs every 45 minutes over connections whose access token expires within 50.
QUICKBOOKS_REFRESH_SWEEP_MINUTES = env.int("QUICKBOOKS_REFRESH_SWEEP_MINUTES", default=45)
QUICKBOOKS_REFRESH_WINDOW_MINUTES = env.int("QUICKBOOKS_REFRESH_WINDOW_MINUTES", default=50)
# The sweep's pace at the token endpoint, for all workers together (Intuit publishes 800/min per realm+app for
# its non-QBO endpoints and no app-wide figure; each realm is refreshed once a sweep). 3,000/min: 10,000
# connections in under 4 minutes. Connections per queued chunk of the sweep.
QUICKBOOKS_REFRESH_PER_MINUTE = env.int("QUICKBOOKS_REFRESH_PER_MINUTE", default=3000)
QUICKBOOKS_REFRESH_CHUNK = env.int("QUICKBOOKS_REFRESH_CHUNK", default=200)
# Refreshes in flight per worker (threads; each mostly waits for Intuit): the pace above still sets the rate.
QUICKBOOKS_REFRESH_THREADS = env.int("QUICKBOOKS_REFRESH_THREADS", default=8)
# Sync log rows that succeeded, were up to date or skipped are deleted after this many days (0 = keep them),
# daily, except each object's latest row; failed, dead and drift rows stay until a newer push succeeded.
QUICKBOOKS_SYNC_LOG_RETENTION_DAYS = env.int("QUICKBOOKS_SYNC_LOG_RETENTION_DAYS", default=90)
# Pushes: edits inside the debounce window make one push of the latest state; failures retry with back-off
# (about 1 min, 5 min, 30 min, 2 h) and the entry is dead after the last attempt.
QUICKBOOKS_PUSH_DEBOUNCE_SECONDS = env.float("QUICKBOOKS_PUSH_DEBOUNCE_SECONDS", default=10)
QUICKBOOKS_PUSH_MAX_ATTEMPTS = env.int("QUICKBOOKS_PUSH_MAX_ATTEMPTS", default=5)
# Change Data Capture gap-fill: every connected realm is asked for Payment/Invoice/Customer changes this often
# (the schedule's own interval is set by migration integrations/0010 to the default).
QUICKBOOKS_CDC_MINUTES = env.int("QUICKBOOKS_CDC_MINUTES", default=15)
# Seconds between a failed attempt and the next (the last value repeats): about 1 min, 5 min, 30 min, 2 h, 6 h.
QUICKBOOKS_PUSH_BACKOFF_SECONDS = env.list(
    "QUICKBOOKS_PUSH_BACKOFF_SECONDS", cast=float, default=[60, 300, 1800, 7200, 21600]
)
# A 401 that follows a freshly refreshed token: wait this long, then try once more before counting a failure.
QUICKBOOKS_UNAUTHORIZED_PAUSE_SECONDS = env.float("QUICKBOOKS_UNAUTHORIZED_PAUSE_SECONDS", default=2)
# The simulator's own switches (read only by integrations/simulator).
QUICKBOOKS_SIMULATOR_RATE_LIMITS = env.bool("QUICKBOOKS_SIMULATOR_RATE_LIMITS", default=True)
QUICKBOOKS_SIMULATOR_SEND_RETRY_AFTER = env.bool("QUICKBOOKS_SIMULATOR_SEND_RETRY_AFTER", default=True)
# The simulator's control API (control/...) answers only to this token (header X-Simulator-Token or
# Authorization: Bearer); empty = control API refused. scripts/run sets a random one.
QUICKBOOKS_SIMULATOR_CONTROL_TOKEN = env.str("QUICKBOOKS_SIMULATOR_CONTROL_TOKEN", default="")
# Redirect URIs the simulator's authorize endpoint accepts; empty = the app's own QUICKBOOKS_REDIRECT_URI(_ALLOWLIST).
QUICKBOOKS_SIMULATOR_REDIRECT_URIS = env.list("QUICKBOOKS_SIMULATOR_REDIRECT_URIS", default=[])
# Where the simulator POSTs its signed webhooks; empty = APP_WEBHOOK_PATH on QUICKBOOKS_SIMULATOR_BASE_URL.
QUICKBOOKS_SIMULATOR_WEBHOOK_URL = env.str("QUICKBOOKS_SIMULATOR_WEBHOOK_URL", default="")
# `background` (deliver after each write, Intuit's retries), `sync`, or `manual` (only on POST
# control/webhooks/flush; the test settings use it).
QUICKBOOKS_SIMULATOR_WEBHOOK_DELIVERY = env.str("QUICKBOOKS_SIMULATOR_WEBHOOK_DELIVERY", default="background")
QUICKBOOKS_SIMULATOR_WEBHOOK_FORMAT = env.str("QUICKBOOKS_SIMULATOR_WEBHOOK_FORMAT", default="cloudevents")

# The per-realm limiter (integrations/quickbooks/limiter.py, decision 0013): calls are paced before they are sent at
# Intuit's limits (QBO-REFERENCE §3.4), shared by every worker through the database. The window is Intuit's minute;
# a benchmark against a time-scaled simulator shortens both. Pacing runs at RATE_SAFETY of each limit; a call that
# would wait longer than RATE_MAX_WAIT_SECONDS is handed back to the outbox instead (not an attempt). When the
# database cannot be used, each process paces at RATE_FALLBACK_SHARE of the limits (slower, never faster).
QUICKBOOKS_RATE_LIMITER = env.bool("QUICKBOOKS_RATE_LIMITER", default=True)
QUICKBOOKS_RATE_CALLS_PER_WINDOW = env.int("QUICKBOOKS_RATE_CALLS_PER_WINDOW", default=500)
QUICKBOOKS_RATE_BATCHES_PER_WINDOW = env.int("QUICKBOOKS_RATE_BATCHES_PER_WINDOW", default=40)
QUICKBOOKS_RATE_CONCURRENT = env.int("QUICKBOOKS_RATE_CONCURRENT", default=10)
QUICKBOOKS_RATE_WINDOW_SECONDS = env.float("QUICKBOOKS_RATE_WINDOW_SECONDS", default=60)
QUICKBOOKS_RATE_SAFETY = env.float("QUICKBOOKS_RATE_SAFETY", default=0.98)
QUICKBOOKS_RATE_MAX_WAIT_SECONDS = env.float("QUICKBOOKS_RATE_MAX_WAIT_SECONDS", default=5)
QUICKBOOKS_RATE_FALLBACK_SHARE = env.float("QUICKBOOKS_RATE_FALLBACK_SHARE", default=0.1)
# Outbox workers: a worker drains due entries (round robin by realm) for up to this long, then hands over.
QUICKBOOKS_DRAIN_SECONDS = env.float("QUICKBOOKS_DRAIN_SECONDS", default=30)
# Intuit meters reads ("CorePlus", QBO-REFERENCE §0 #6): the monthly allowance and the share that warns admins.
QUICKBOOKS_MONTHLY_READ_ALLOWANCE = env.int("QUICKBOOKS_MONTHLY_READ_ALLOWANCE", default=500_000)
QUICKBOOKS_READ_WARNING_SHARE = env.float("QUICKBOOKS_READ_WARNING_SHARE", default=0.8)
# "Send existing invoices" (integrations/services/backfill.py; its batches are paced by the limiter's
# QUICKBOOKS_RATE_BATCHES_PER_WINDOW): how long a worker's claim on a run lasts without news before another resumes it.
QUICKBOOKS_BACKFILL_LEASE_SECONDS = env.float("QUICKBOOKS_BACKFILL_LEASE_SECONDS", default=120)
# The outbox batches (integrations/outbox/batches.py, decision 0020): when more than this many invoice entries of one
# realm are due, a worker sends up to 30 of them in one batch request; 0 turns it off (one call per invoice).
QUICKBOOKS_OUTBOX_BATCH_THRESHOLD = env.int("QUICKBOOKS_OUTBOX_BATCH_THRESHOLD", default=10)
# The simulator's clock for Intuit's per-minute limits: 10 means a "minute" lasts 6 s (same ratios), for benchmarks.
QUICKBOOKS_SIMULATOR_TIME_SCALE = env.float("QUICKBOOKS_SIMULATOR_TIME_SCALE", default=1)
