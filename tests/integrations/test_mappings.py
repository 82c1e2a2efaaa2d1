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


def test_mappings_are_read_only_in_the_django_admin_and_scoped_to_the_company(tenant, other_tenant, client):
    """Mappings are edited on the mapping page, which checks them against QuickBooks; the admin only shows them."""
    from django.urls import reverse

    tenant.admin.is_staff = True
    tenant.admin.save()
    client.force_login(tenant.admin)
    assert client.get(reverse("admin:integrations_quickbooksmapping_add")).status_code == 403
    mine = QuickBooksMapping.objects.create(
        company=tenant.company, realm_id="1", kind="item", local_key="default", qbo_id="1"
    )
    b_mapping = QuickBooksMapping.objects.create(
        company=other_tenant.company, realm_id="1", kind="item", local_key="default", qbo_id="9"
    )
    page = client.get(reverse("admin:integrations_quickbooksmapping_change", args=[mine.pk]))
    assert page.status_code == 200 and 'name="qbo_id"' not in page.content.decode()
    assert client.get(reverse("admin:integrations_quickbooksmapping_change", args=[b_mapping.pk])).status_code == 404
