import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from integrations.models import QuickBooksMapping

pytestmark = pytest.mark.django_db


def test_quickbooks_map_sets_and_lists_mappings(tenant, capsys):
    from tests.integrations.conftest import REALM, make_connection

    make_connection(tenant.company)
    call_command(
        "quickbooks_map",
        "--company",
        str(tenant.company.pk),
        "--item",
        str(tenant.product.pk),
        "--qbo-id",
        "2",
        "--qbo-name",
        "Consulting",
    )
    call_command("quickbooks_map", "--company", str(tenant.company.pk), "--tax-code", "default", "--qbo-id", "6")
    call_command("quickbooks_map", "--company", str(tenant.company.pk), "--list")
    out = capsys.readouterr().out
    assert f"item            {tenant.product.pk:>10} → 2 Consulting" in out
    assert "tax_code           default → 6" in out
    assert QuickBooksMapping.objects.filter(realm_id=REALM).count() == 2


def test_quickbooks_map_needs_a_connected_realm(tenant):
    with pytest.raises(CommandError, match="Connect QuickBooks first"):
        call_command("quickbooks_map", "--company", str(tenant.company.pk), "--item", "default", "--qbo-id", "1")


def test_quickbooks_map_refuses_another_companys_product(tenant, other_tenant):
    from tests.integrations.conftest import make_connection

    make_connection(tenant.company)
    with pytest.raises(CommandError, match=f"No product with id {other_tenant.product.pk} in Alpha"):
        call_command(
            "quickbooks_map",
            "--company",
            str(tenant.company.pk),
            "--item",
            str(other_tenant.product.pk),
            "--qbo-id",
            "2",
        )


def test_company_admins_edit_their_own_mappings_in_the_django_admin(tenant, other_tenant, client):
    from django.urls import reverse

    tenant.admin.is_staff = True
    tenant.admin.save()
    client.force_login(tenant.admin)
    url = reverse("admin:integrations_quickbooksmapping_add")
    page = client.get(url).content.decode()
    assert "Alpha" in page and "Beta" not in page  # only companies they administer
    response = client.post(url, {"company": tenant.company.pk, "kind": "item", "local_key": "default", "qbo_id": "1"})
    assert response.status_code == 302 and QuickBooksMapping.objects.filter(company=tenant.company).exists()
    b_mapping = QuickBooksMapping.objects.create(
        company=other_tenant.company, realm_id="1", kind="item", local_key="default", qbo_id="9"
    )
    assert client.get(reverse("admin:integrations_quickbooksmapping_change", args=[b_mapping.pk])).status_code == 404
    tenant.staff.is_staff = True
    tenant.staff.save()
    client.force_login(tenant.staff)
    assert client.get(url).status_code == 403  # staff see syncs, admins edit mappings
