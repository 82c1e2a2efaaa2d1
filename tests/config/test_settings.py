import subprocess
import sys

import pytest
from django.test import override_settings

from config import keys


def _import_production(env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='config.settings.production';"
            "django.setup(); print('ok')",
        ],
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_settings_refuse_to_start_without_a_secret_key():
    result = _import_production({"DJANGO_ALLOWED_HOSTS": "example.com"})
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in result.stderr


def test_production_settings_start_with_their_secrets_set():
    result = _import_production({"DJANGO_ALLOWED_HOSTS": "example.com", "DJANGO_SECRET_KEY": "x" * 50})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


@override_settings(SECRETS_ALLOW_DEV_DEFAULTS=False)
def test_quickbooks_secrets_have_no_default_outside_development(monkeypatch):
    monkeypatch.delenv("QUICKBOOKS_CLIENT_SECRET", raising=False)
    with pytest.raises(keys.MissingSecret, match="QUICKBOOKS_CLIENT_SECRET is not set"):
        keys.quickbooks_client_secret()
    monkeypatch.setenv("QUICKBOOKS_CLIENT_SECRET", " real-secret ")
    assert keys.quickbooks_client_secret() == "real-secret"


def test_token_keys_are_a_newest_first_list(monkeypatch):
    monkeypatch.setenv("QUICKBOOKS_TOKEN_KEYS", "new-key, old-key ,")
    assert keys.quickbooks_token_keys() == ["new-key", "old-key"]
