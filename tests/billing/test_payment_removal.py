"""A payment recorded here can be taken back (deleted by mistake, or refunded): admins only, audited, and the
invoice gets its balance back. (Voiding the QuickBooks copy: tests/integrations/test_payments_out.py.)"""

import datetime as dt
from decimal import Decimal

import pytest

from attune_qbo.audit.models import AuditLog
from attune_qbo.billing import services
from attune_qbo.billing.exceptions import PaymentRefused
from attune_qbo.billing.models import InvoiceStatus, Payment, PaymentSource

pytestmark = pytest.mark.django_db


def paid_invoice(tenant, *, source=PaymentSource.LOCAL):
    invoice = tenant.invoice(finalize=True)
    external = {"external_id": "qbo:1:7:130"} if source != PaymentSource.LOCAL else {}
    payment = services.payment_record(
        invoice=invoice, amount=invoice.total, date=dt.date(2026, 11, 2), reference="CHQ 7", source=source, **external
    )
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    return invoice, payment


@pytest.mark.parametrize("reason", ["deleted", "refunded"])
def test_removed_payment_gives_the_invoice_its_balance_back_and_is_audited(tenant, reason):
    invoice, payment = paid_invoice(tenant)
    services.payment_remove(payment=payment, user=tenant.admin, reason=reason)
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.FINALIZED
    assert invoice.amount_paid == Decimal("0.00") and invoice.balance_due == invoice.total
    assert not Payment.objects.filter(pk=payment.pk).exists()
    entry = AuditLog.objects.get(action=f"invoice.payment_{reason}")
    assert entry.details["amount"] == str(payment.amount) and entry.details["reference"] == "CHQ 7"
    assert entry.details["before"]["status"] == "paid" and entry.details["after"]["status"] == "finalized"


def test_partial_removal_keeps_the_other_payments(tenant):
    invoice = tenant.invoice(finalize=True)
    first = services.payment_record(invoice=invoice, amount=Decimal("10.00"), date=dt.date(2026, 11, 2))
    services.payment_record(invoice=invoice, amount=Decimal("20.00"), date=dt.date(2026, 11, 3))
    services.payment_remove(payment=first)
    invoice.refresh_from_db()
    assert invoice.amount_paid == Decimal("20.00") and invoice.payments.count() == 1


def test_payment_from_quickbooks_is_refused_and_kept(tenant):
    invoice, payment = paid_invoice(tenant, source=PaymentSource.QUICKBOOKS)
    with pytest.raises(PaymentRefused, match="void or delete it in QuickBooks"):
        services.payment_remove(payment=payment)
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID and Payment.objects.filter(pk=payment.pk).exists()


def test_unknown_reason_and_second_removal_are_refused(tenant):
    _, payment = paid_invoice(tenant)
    with pytest.raises(PaymentRefused, match="Unknown reason"):
        services.payment_remove(payment=payment, reason="lost")
    services.payment_remove(payment=payment)
    with pytest.raises(PaymentRefused, match="already removed"):
        services.payment_remove(payment=payment)


def test_page_lets_admins_remove_and_refuses_staff(tenant, page_client_for):
    invoice, payment = paid_invoice(tenant)
    url = f"/invoices/{invoice.pk}/payments/{payment.pk}/remove/"
    assert page_client_for(tenant.staff).post(url, {"reason": "refunded"}).status_code == 403
    assert "Remove</button>" not in page_client_for(tenant.staff).get(f"/invoices/{invoice.pk}/").content.decode()
    admin = page_client_for(tenant.admin)
    assert "Remove</button>" in admin.get(f"/invoices/{invoice.pk}/").content.decode()
    response = admin.post(url, {"reason": "refunded"}, follow=True)
    assert "refunded; invoice" in response.content.decode()
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.FINALIZED


def test_api_removes_with_a_reason_and_scopes_to_the_company(tenant, other_tenant, api_client_for):
    invoice, payment = paid_invoice(tenant)
    other_invoice, other_payment = paid_invoice(other_tenant)
    api = api_client_for(tenant.admin)
    assert api.delete(f"/api/v1/invoices/{other_invoice.pk}/payments/{other_payment.pk}").status_code == 404
    assert api.delete(f"/api/v1/invoices/{invoice.pk}/payments/{other_payment.pk}").status_code == 404
    assert (
        api_client_for(tenant.staff).delete(f"/api/v1/invoices/{invoice.pk}/payments/{payment.pk}").status_code == 403
    )
    bad = api.delete(f"/api/v1/invoices/{invoice.pk}/payments/{payment.pk}?reason=lost")
    assert bad.status_code == 400 and "Unknown reason" in bad.json()["message"]
    response = api.delete(f"/api/v1/invoices/{invoice.pk}/payments/{payment.pk}?reason=refunded")
    assert response.status_code == 200
    assert response.json()["status"] == "finalized" and response.json()["payments"] == []
    assert Payment.objects.filter(pk=other_payment.pk).exists()
