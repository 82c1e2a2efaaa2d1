"""Issue #8 item 7: hashed API tokens managed under Settings → API tokens; the Django admin is for the team."""

import re

import pytest
from django.test import Client

from attune_qbo.audit.models import AuditLog
from attune_qbo.tenants.models import ApiToken
from attune_qbo.tenants.tokens import hash_key

pytestmark = pytest.mark.django_db
PAGE = "/settings/api-tokens/"


def test_an_admin_creates_a_token_shown_once_and_stored_only_hashed_then_revokes_it(tenant, page_client_for):
    page = page_client_for(tenant.admin)
    response = page.post(PAGE, {"name": "nightly export"})
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    key = re.search(r'<code id="new-key">([^<]+)</code>', response.content.decode()).group(1)
    token = ApiToken.objects.get()
    assert token.key_hash == hash_key(key) and key not in str(ApiToken.objects.values().get())
    assert key not in page.get(PAGE).content.decode()  # never shown again
    api = Client(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get("/api/v1/invoices").status_code == 200
    assert page.post(f"{PAGE}{token.pk}/revoke/").status_code == 302
    response = api.get("/api/v1/invoices")
    assert response.status_code == 401 and response.json()["code"] == "authentication_failed"
    assert [e.action for e in AuditLog.objects.order_by("id")] == ["api_token.create", "api_token.revoke"]


@pytest.mark.parametrize("role", ["staff", "member"])
def test_only_company_admins_manage_api_tokens(tenant, page_client_for, role):
    page = page_client_for(tenant.user(role))
    assert page.get(PAGE).status_code == 403
    assert page.post(PAGE, {"name": "x"}).status_code == 403
    assert not ApiToken.objects.exists()


def test_a_company_token_works_only_in_its_own_company(tenant, other_tenant, page_client_for):
    from attune_qbo.tenants.models import Membership, Role

    Membership.objects.create(user=tenant.admin, company=other_tenant.company, role=Role.ADMIN)
    response = page_client_for(tenant.admin).post(PAGE, {"name": "alpha only"})
    key = re.search(r'<code id="new-key">([^<]+)</code>', response.content.decode()).group(1)
    api = Client(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get("/api/v1/invoices", HTTP_X_COMPANY_ID=str(other_tenant.company.pk)).status_code == 403
    assert api.get("/api/v1/invoices", HTTP_X_COMPANY_ID=str(tenant.company.pk)).status_code == 200


def test_another_companys_token_cannot_be_revoked_and_its_existence_is_not_confirmed(
    tenant, other_tenant, page_client_for
):
    from attune_qbo.tenants.tokens import api_token_create

    theirs = api_token_create(company=other_tenant.company, user=other_tenant.admin, name="beta").token
    assert page_client_for(tenant.admin).post(f"{PAGE}{theirs.pk}/revoke/").status_code == 404
    assert ApiToken.objects.get(pk=theirs.pk).is_active


def test_stock_admins_are_hidden_from_tenant_admins_who_are_django_staff(tenant, client, django_user_model):
    tenant.admin.is_staff = True
    tenant.admin.save()
    client.force_login(tenant.admin)
    index = client.get("/admin/").content.decode()
    assert "/admin/auth/user/" not in index and "/admin/django_q/" not in index
    for url in (
        "/admin/auth/user/",
        f"/admin/auth/user/{tenant.member.pk}/change/",
        "/admin/auth/user/999999/change/",
        "/admin/django_q/schedule/",
        "/admin/auth/group/",
    ):
        assert client.get(url).status_code == 404, url  # the same answer whether the object exists or not
    operator = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(operator)
    assert client.get("/admin/auth/user/").status_code == 200


def test_the_api_docs_point_to_the_api_tokens_page(tenant, page_client_for):
    schema = page_client_for(tenant.admin).get("/api/v1/schema/", HTTP_ACCEPT="application/json").content.decode()
    assert "/settings/api-tokens/" in schema
    assert "service" not in schema.lower() or "<entity>_save" not in schema  # no internal notes
    settings_page = page_client_for(tenant.admin).get("/settings/").content.decode()
    assert PAGE in settings_page
