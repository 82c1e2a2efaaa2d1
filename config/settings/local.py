"""Local development: DEBUG on, dev secrets allowed, the QuickBooks simulator by default."""

from config import keys
from config.env import env

from .base import *  # noqa: F403

DEBUG = env.bool("DJANGO_DEBUG", default=True)
SECRETS_ALLOW_DEV_DEFAULTS = True
SECRET_KEY = keys.django_secret_key(allow_dev_default=True)
QUICKBOOKS_ENVIRONMENT = env.str("QUICKBOOKS_ENVIRONMENT", default="simulator")
