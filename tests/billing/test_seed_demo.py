import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from attune_qbo.billing.models import Invoice, InvoiceStatus
from attune_qbo.tenants.models import Company, Membership

pytestmark = pytest.mark.django_db


def test_seed_demo_creates_acme_with_every_status_and_is_idempotent(capsys, monkeypatch):
    monkeypatch.setenv("DEMO_PASSWORD", "s3cret-demo")
    call_command("seed_demo")
    call_command("seed_demo")
    output = capsys.readouterr().out
    company = Company.objects.get()
    assert company.name == "Acme Plumbing"
    assert set(Invoice.objects.values_list("status", flat=True)) == set(InvoiceStatus.values)
    assert Invoice.objects.count() == 5
    assert {(m.user.username, m.role) for m in Membership.objects.select_related("user")} >= {
        ("admin", "admin"),
        ("staff", "staff"),
    }
    users = {user.username: user for user in get_user_model().objects.all()}
    assert users["admin"].check_password("s3cret-demo")
    # Tenants' admins and staff are not Django staff; the Django admin has its own operator account.
    assert not any(users[name].is_staff for name in ("admin", "staff", "member"))
    assert users["operator"].is_superuser and users["operator"].check_password("s3cret-demo")
    assert not Membership.objects.filter(user=users["operator"]).exists()
    assert "'s3cret-demo'" in output
