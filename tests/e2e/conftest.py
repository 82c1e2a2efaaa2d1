"""End-to-end: our app and the simulator served by pytest-django's live server (threaded), talking over
loopback HTTP exactly as they would to Intuit."""

import re
import shutil

import pytest
import requests

from tests.conftest import make_tenant

US_REALM = "9341453050298541"
CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
HIDDEN_INPUT = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')


def control_headers() -> dict:
    """The simulator's control API needs its token (settings.QUICKBOOKS_SIMULATOR_CONTROL_TOKEN)."""
    from django.conf import settings

    return {"X-Simulator-Token": settings.QUICKBOOKS_SIMULATOR_CONTROL_TOKEN}


@pytest.fixture
def live_app(live_server, settings, transactional_db):
    """Point the integration at the simulator on the live server."""
    base = live_server.url
    settings.QUICKBOOKS_ENVIRONMENT = "simulator"
    settings.QUICKBOOKS_SIMULATOR_BASE_URL = base
    settings.QUICKBOOKS_REDIRECT_URI = f"{base}/api/v1/integrations/quickbooks/callback"
    settings.QUICKBOOKS_REDIRECT_URI_ALLOWLIST = [settings.QUICKBOOKS_REDIRECT_URI]
    settings.QUICKBOOKS_HTTP_TIMEOUT = 5
    settings.ALLOWED_HOSTS = ["*"]
    return base


@pytest.fixture
def acme(live_app):
    tenant = make_tenant("Acme")
    # The rate of a sales tax code the US sample company has (California, 8 %): mapped by its rate at connect.
    from decimal import Decimal

    tenant.tax_rate.percent = Decimal("8")
    tenant.tax_rate.save()
    return tenant


class Browser:
    """A requests.Session that fills in Django CSRF tokens like a browser submitting forms."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.session = requests.Session()

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.session.get(path if path.startswith("http") else self.base + path, timeout=20, **kwargs)

    def submit(self, page: requests.Response, action: str, data: dict | None = None) -> requests.Response:
        token = CSRF_INPUT.search(page.text)
        fields = {"csrfmiddlewaretoken": token.group(1) if token else self.session.cookies.get("csrftoken", "")}
        url = action if action.startswith("http") else self.base + action
        return self.session.post(url, data={**fields, **(data or {})}, headers={"Referer": page.url}, timeout=20)

    def sign_in(self, username: str, password: str = "pw") -> None:
        page = self.get("/accounts/login/")
        response = self.submit(page, "/accounts/login/", {"username": username, "password": password})
        assert response.url.endswith("/invoices/"), "sign-in failed"

    def connect_quickbooks(self, realm_id: str = US_REALM) -> requests.Response:
        """Press Connect, pick the company on the simulator's consent page, press Connect there."""
        settings_page = self.get("/settings/integrations/quickbooks/")
        consent = self.submit(settings_page, "/settings/integrations/quickbooks/connect/")
        assert "/simulator/oauth2/authorize" in consent.url, consent.url
        hidden = dict(HIDDEN_INPUT.findall(consent.text))
        hidden.pop("csrfmiddlewaretoken", None)
        return self.submit(consent, consent.url.split("?")[0], {**hidden, "realm_id": realm_id, "connect": "1"})


@pytest.fixture
def browser(live_app):
    return Browser(live_app)


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def page(live_app, monkeypatch):
    """A Playwright page in Debian's Chromium. Skipped when Chromium is missing, unless REQUIRE_BROWSER=1
    (CI), where a missing browser is a failure."""
    import os

    executable = chromium_path()
    if executable is None:
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail("REQUIRE_BROWSER=1 but no chromium on PATH (apt-get install chromium)")
        pytest.skip("browser tests need Debian's chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls are still synchronous.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-quic",
            ],
        )
        context = browser.new_context(base_url=live_app, viewport={"width": 1200, "height": 900})
        page = context.new_page()
        page.set_default_timeout(15000)
        yield page
        context.close()
        browser.close()
        # The ORM connection opened while Playwright's event loop ran belongs to that context; close it here, or
        # PostgreSQL cannot drop the test database at the end.
        from django.db import connections

        connections.close_all()
