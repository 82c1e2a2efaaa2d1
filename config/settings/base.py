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
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "django_q",
    "attune_qbo.core",
    "attune_qbo.tenants",
    "attune_qbo.billing",
    "attune_qbo.audit",
    "integrations",
    "integrations.simulator",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "attune_qbo.tenants.middleware.CurrentCompanyMiddleware",
]

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

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]

EMAIL_BACKEND = env.str("DJANGO_EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env.str("DJANGO_DEFAULT_FROM_EMAIL", default="attune-qbo <noreply@localhost>")

# --- Django REST framework ------------------------------------------------------------------------
REST_FRAMEWORK = {
    # Token first, so a request with no credentials gets 401 (with WWW-Authenticate), not 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["attune_qbo.tenants.permissions.IsCompanyMember"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 25,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "attune_qbo.core.api.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "attune-qbo API",
    "DESCRIPTION": "Invoicing and its QuickBooks Online integration. Every object is scoped to the caller's company.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
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
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
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
# Pushes: edits inside the debounce window make one push of the latest state; failures retry with back-off
# (about 1 min, 5 min, 30 min, 2 h) and the entry is dead after the last attempt.
QUICKBOOKS_PUSH_DEBOUNCE_SECONDS = env.float("QUICKBOOKS_PUSH_DEBOUNCE_SECONDS", default=10)
QUICKBOOKS_PUSH_MAX_ATTEMPTS = env.int("QUICKBOOKS_PUSH_MAX_ATTEMPTS", default=5)
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
