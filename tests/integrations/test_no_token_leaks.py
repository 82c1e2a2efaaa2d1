"""A full connect → refresh → 401 → invalid_grant → disconnect cycle, with every log record, response, audit
row and admin page collected and searched for the secrets."""

import json
import logging

import pytest
import responses
from django.urls import reverse

from attune_qbo.audit.models import AuditLog
from integrations.models import QuickBooksConnection
from integrations.services import connections
from integrations.services.api import client_for
from tests.integrations.conftest import (
    REALM,
    REVOKE_URL,
    SANDBOX_API,
    TOKEN_URL,
    add_company_info,
    query_of,
    token_body,
)

pytestmark = pytest.mark.django_db

SECRETS = ["LEAK-ACCESS-1", "LEAK-REFRESH-1", "LEAK-ACCESS-2", "LEAK-REFRESH-2", "LEAK-AUTH-CODE", "attune-dev-secret"]


def test_no_token_appears_in_logs_responses_audit_or_admin(
    tenant, client, intuit, caplog, api_client_for, django_user_model, django_capture_on_commit_callbacks
):
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []

    client.force_login(tenant.admin)
    response = client.post(reverse("integrations:quickbooks-connect"))
    state = query_of(response["Location"])["state"]
    from integrations.models import OAuthState

    verifier = OAuthState.objects.get(state=state).code_verifier_cipher.reveal()
    intuit.add(responses.POST, TOKEN_URL, json=token_body("LEAK-ACCESS-1", "LEAK-REFRESH-1"))
    add_company_info(intuit)
    response = client.get(
        "/api/v1/integrations/quickbooks/callback",
        {"code": "LEAK-AUTH-CODE", "state": state, "realmId": REALM},
        follow=True,
    )
    seen.append(response.content.decode())

    # a 401 on an API call refreshes (rotation) and retries
    intuit.add(
        responses.GET,
        f"{SANDBOX_API}/v3/company/{REALM}/preferences",
        status=401,
        json={"fault": {"error": [{"message": "AuthenticationFailed", "code": "3200"}]}},
    )
    intuit.add(responses.GET, f"{SANDBOX_API}/v3/company/{REALM}/preferences", json={"Preferences": {}})
    intuit.replace(responses.POST, TOKEN_URL, json=token_body("LEAK-ACCESS-2", "LEAK-REFRESH-2"))
    client_for(QuickBooksConnection.objects.get()).preferences()

    # invalid_grant on the next refresh
    intuit.replace(responses.POST, TOKEN_URL, json={"error": "invalid_grant"}, status=400)
    connection = QuickBooksConnection.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        try:
            connections.connection_refresh(connection_id=connection.pk, force=True)
        except Exception as error:  # noqa: BLE001 - collected: the message must be clean too
            seen.append(f"{type(error).__name__}: {error!r} {error}")

    for url in ("/api/v1/integrations/quickbooks/status",):
        seen.append(api_client_for(tenant.admin).get(url).content.decode())
    seen.append(client.get(reverse("integrations:quickbooks-settings")).content.decode())

    superuser = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    admin_client = client.__class__()
    admin_client.force_login(superuser)
    for url in (
        reverse("admin:integrations_quickbooksconnection_changelist"),
        reverse("admin:integrations_quickbooksconnection_change", args=[connection.pk]),
        reverse("admin:integrations_oauthstate_changelist"),
        reverse("admin:audit_auditlog_changelist"),
    ):
        page = admin_client.get(url)
        assert page.status_code == 200, url
        seen.append(page.content.decode())

    intuit.add(responses.POST, REVOKE_URL, status=500)
    response = client.post(reverse("integrations:quickbooks-disconnect"), follow=True)
    seen.append(response.content.decode())

    seen.extend(json.dumps([entry.message, entry.details]) for entry in AuditLog.objects.all())
    seen.extend(record.getMessage() for record in caplog.records)
    seen.extend(str(record.args) for record in caplog.records)
    assert AuditLog.objects.count() >= 3 and len(caplog.records) > 5
    haystack = "\n".join(seen)
    for secret in [*SECRETS, verifier]:
        assert secret not in haystack, f"{secret} leaked"
