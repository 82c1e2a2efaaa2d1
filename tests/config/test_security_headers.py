"""Issue #8 item 8: production headers, CSP without inline script, idle sessions, `check --deploy`, docs sign-in."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def pages(tenant):
    invoice = tenant.invoice()
    return [
        "/invoices/",
        "/invoices/new/",
        f"/invoices/{invoice.pk}/",
        f"/invoices/{invoice.pk}/edit/",
        "/clients/",
        "/clients/new/",
        "/products/",
        "/tax-rates/",
        "/settings/",
        "/settings/api-tokens/",
    ]


def test_pages_send_a_content_security_policy_without_inline_script_and_have_none(tenant, page_client_for, client):
    page = page_client_for(tenant.admin)
    for url in pages(tenant):
        response = page.get(url)
        assert response.status_code == 200, url
        policy = response["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy
        html = response.content.decode()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), f"inline <script> on {url}"
        assert not re.search(r"\son[a-z]+\s*=", html), f"inline event handler on {url}"
        assert " style=" not in html, f"inline style attribute on {url}"
    client.logout()
    login = client.get("/accounts/login/")
    assert "Content-Security-Policy" in login and " style=" not in login.content.decode()


def test_every_response_sends_permissions_policy_and_no_framing(tenant, page_client_for):
    response = page_client_for(tenant.admin).get("/invoices/")
    assert "camera=()" in response["Permissions-Policy"] and "geolocation=()" in response["Permissions-Policy"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"


def test_sessions_end_after_the_idle_timeout(settings, tenant, page_client_for):
    assert settings.SESSION_SAVE_EVERY_REQUEST is True
    assert settings.SESSION_COOKIE_AGE == settings.SESSION_IDLE_TIMEOUT_SECONDS == 30 * 60
    page = page_client_for(tenant.admin)
    response = page.get("/invoices/")
    assert response.cookies["sessionid"]["max-age"] == 30 * 60  # renewed by every request


def production_env(**extra) -> dict:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": "x" * 20 + Fernet.generate_key().decode() + "y" * 20,
        "DJANGO_ALLOWED_HOSTS": "attune.example.com",
        "QUICKBOOKS_CLIENT_ID": "id",
        "QUICKBOOKS_CLIENT_SECRET": "secret",
        "QUICKBOOKS_WEBHOOK_VERIFIER_TOKEN": "verifier",
        "QUICKBOOKS_TOKEN_KEYS": Fernet.generate_key().decode(),
        "QUICKBOOKS_REDIRECT_URI": "https://attune.example.com/api/v1/integrations/quickbooks/callback",
        "QUICKBOOKS_REDIRECT_URI_ALLOWLIST": "https://attune.example.com/api/v1/integrations/quickbooks/callback",
        "DATABASE_URL": "sqlite:////tmp/attune-check-deploy.sqlite3",
        **extra,
    }
    return env


def test_check_deploy_under_production_settings_leaves_no_warning_unexplained():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=production_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues (1 silenced)" in result.stdout  # security.W021 (HSTS preload), decision 0007
    decision = (ROOT / "docs/decisions/0007-production-headers-and-deploy-checks.md").read_text()
    assert "security.W021" in decision


def test_production_sends_hsts_with_subdomains_and_requires_sign_in_for_api_docs():
    script = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.API_DOCS_REQUIRE_SIGN_IN, "
        "s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE)"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=production_env(), capture_output=True, text=True, timeout=60
    )
    assert result.stdout.split()[-5:] == ["31536000", "True", "True", "True", "True"], result.stderr


def test_api_docs_and_schema_require_sign_in_when_the_setting_is_on(settings, client, tenant, page_client_for):
    settings.API_DOCS_REQUIRE_SIGN_IN = True
    response = client.get("/api/v1/docs/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    response = client.get("/api/v1/schema/")
    assert response.status_code in (401, 403) and response.json()["code"]
    page = page_client_for(tenant.member)
    assert page.get("/api/v1/docs/").status_code == 200
    docs = page.get("/api/v1/docs/").content.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", docs)  # Swagger's script is served separately
