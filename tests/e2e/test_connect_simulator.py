"""Connect → refresh → disconnect through the real HTTP views, against the simulator over loopback."""

import pytest
import requests
from django.core.management import call_command

from integrations.conf import quickbooks_config
from integrations.exceptions import InvalidGrant
from integrations.models import ConnectionStatus, QuickBooksConnection
from integrations.quickbooks import oauth
from tests.e2e.conftest import US_REALM, control_headers


def simulator_state(base: str) -> dict:
    return requests.get(
        f"{base}/simulator/control/state", headers=control_headers(), params={"realm_id": US_REALM}, timeout=10
    ).json()


def test_connect_refresh_disconnect_against_the_simulator(acme, browser, live_app, capsys):
    browser.sign_in("acme-admin")
    landed = browser.connect_quickbooks()
    assert landed.url.endswith("/settings/integrations/quickbooks/")
    assert "Connected to QuickBooks (Sandbox Company US 1)." in landed.text.replace("&#x27;", "'")
    connection = QuickBooksConnection.objects.get(company=acme.company)
    assert connection.status == ConnectionStatus.CONNECTED and connection.realm_id == US_REALM
    assert connection.environment == "simulator" and connection.qbo_country == "US"
    assert connection.refresh_token_hard_expires_at is not None  # we asked for it, the simulator sent it
    first_refresh = connection.refresh_token_cipher.reveal()

    # A forced refresh rotates both tokens; the simulator rejects the old refresh token from then on.
    call_command("quickbooks_refresh", "--company", str(acme.company.pk), "--force")
    assert "refreshed 1" in capsys.readouterr().out
    connection.refresh_from_db()
    assert connection.refresh_token_cipher.reveal() != first_refresh
    with pytest.raises(InvalidGrant):
        oauth.refresh(quickbooks_config(), refresh_token=first_refresh)

    pill = browser.get("/settings/integrations/quickbooks/status-pill/")
    assert ">Connected</span>" in pill.text

    confirm = browser.get("/settings/integrations/quickbooks/disconnect/")
    done = browser.submit(confirm, "/settings/integrations/quickbooks/disconnect/")
    assert "Disconnected from QuickBooks. Access was revoked at Intuit." in done.text
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.DISCONNECTED and connection.refresh_token_cipher is None
    assert simulator_state(live_app)["realms"][0]["active_grants"] == 0


def test_cancel_on_the_consent_page_connects_nothing(acme, browser):
    browser.sign_in("acme-admin")
    settings_page = browser.get("/settings/integrations/quickbooks/")
    consent = browser.submit(settings_page, "/settings/integrations/quickbooks/connect/")
    from tests.e2e.conftest import HIDDEN_INPUT

    hidden = dict(HIDDEN_INPUT.findall(consent.text))
    hidden.pop("csrfmiddlewaretoken", None)
    landed = browser.submit(consent, consent.url.split("?")[0], {**hidden, "cancel": "1"})
    assert "QuickBooks connection cancelled. Nothing was changed." in landed.text
    assert not QuickBooksConnection.objects.filter(company=acme.company, status="connected").exists()


def test_invalid_grant_from_the_simulator_asks_for_reconnect(acme, browser, live_app):
    browser.sign_in("acme-admin")
    browser.connect_quickbooks()
    armed = requests.post(
        f"{live_app}/simulator/control/faults",
        headers=control_headers(),
        json={"target": "token", "kind": "invalid_grant", "count": 1},
        timeout=10,
    )
    assert armed.status_code in (200, 201), armed.text
    call_command("quickbooks_refresh", "--force")
    connection = QuickBooksConnection.objects.get(company=acme.company)
    assert connection.status == ConnectionStatus.NEEDS_RECONNECT
    page = browser.get("/settings/integrations/quickbooks/")
    assert "QuickBooks needs to be reconnected." in page.text and "Reconnect QuickBooks" in page.text

    # Reconnecting the same realm puts it right.
    landed = browser.connect_quickbooks()
    assert "Reconnected to QuickBooks" in landed.text
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.CONNECTED
