"""Tests: fast hashing, in-memory mail, tasks run inline, dev secrets allowed."""

from config import keys

from .base import *  # noqa: F403
from .base import LOG_FILTERS, Q_CLUSTER

DEBUG = False
SECRETS_ALLOW_DEV_DEFAULTS = True
SECRET_KEY = keys.django_secret_key(allow_dev_default=True)
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Tasks are queued, not run: tests run them explicitly (see tests/integrations/conftest.py `run_tasks`).
Q_CLUSTER = {**Q_CLUSTER, "sync": False}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": LOG_FILTERS,
    "handlers": {"null": {"class": "logging.NullHandler"}},
    "root": {"handlers": ["null"], "level": "DEBUG"},
    "loggers": {
        **{name: {"level": "WARNING"} for name in ("factory", "faker", "django", "urllib3", "django_q")},
        "django.request": {"level": "WARNING", "filters": ["redact_query"]},
        "django.server": {"level": "INFO", "filters": ["redact_query"]},
    },
}
QUICKBOOKS_ENVIRONMENT = "simulator"
QUICKBOOKS_UNAUTHORIZED_PAUSE_SECONDS = 0
# The refresh sweep's threads would not see a test's transaction; the threaded path runs in bench/refresh.py.
QUICKBOOKS_REFRESH_THREADS = 1
# A fixed token for the simulator's control API; test helpers send it (tests/simulator, tests/e2e).
QUICKBOOKS_SIMULATOR_CONTROL_TOKEN = "test-simulator-control-token"

# Many requests per test run: throttles effectively off here; the throttle tests set low rates themselves.
API_THROTTLE_RATES = {
    scope: "100000/min" for scope in ("anon", "user", "token-failures", "quickbooks-connect", "quickbooks-sync")
}
# The simulator's webhooks go out only when a test flushes them (POST /simulator/control/webhooks/flush).
QUICKBOOKS_SIMULATOR_WEBHOOK_DELIVERY = "manual"
