"""Production: no secret has a default; HTTPS-only cookies; the simulator is not installed."""

from config import keys
from config.env import env

from .base import *  # noqa: F403
from .base import INSTALLED_APPS

DEBUG = False
SECRETS_ALLOW_DEV_DEFAULTS = False
SECRET_KEY = keys.django_secret_key(allow_dev_default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS")

SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 30)
SECURE_CONTENT_TYPE_NOSNIFF = True

INSTALLED_APPS = [app for app in INSTALLED_APPS if app != "integrations.simulator"]
