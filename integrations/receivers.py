"""Billing → outbox: the pending sync entry is written in the same transaction as the invoice change."""

from django.db import transaction
from django.db.models import F
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from attune_qbo.billing.signals import invoice_changed, payment_recorded, payment_removed
from integrations.models import QuickBooksConnection, QuickBooksMapping, SyncOperation


@receiver(invoice_changed, dispatch_uid="quickbooks-outbox")
def upsert_pending_push(sender, *, invoice_id: int, company_id: int, change: str, **kwargs) -> None:
    from integrations.outbox.enqueue import sync_enqueue
    from integrations.quickbooks.desktop.services import desktop_active, desktop_enqueue

    operation = SyncOperation.VOID if change == "voided" else SyncOperation.PUSH
    if desktop_active(company_id=company_id) is not None:  # the company syncs to QuickBooks Desktop instead
        desktop_enqueue(company_id=company_id, invoice_id=invoice_id, operation=operation)
        return
    sync_enqueue(company_id=company_id, invoice_id=invoice_id, operation=operation)


@receiver(payment_recorded, dispatch_uid="quickbooks-payment-outbox")
def queue_payment_push(sender, *, payment_id: int, company_id: int, **kwargs) -> None:
    """A payment recorded here goes to QuickBooks (payments that came from QuickBooks are skipped inside)."""
    from integrations.quickbooks.desktop.services import desktop_active, desktop_payment_enqueue
    from integrations.services.payments import payment_enqueue

    if desktop_active(company_id=company_id) is not None:  # QuickBooks Desktop: ReceivePaymentAdd at its next run
        with transaction.atomic():
            desktop_payment_enqueue(company_id=company_id, payment_id=payment_id)
        return
    payment_enqueue(company_id=company_id, payment_id=payment_id)


@receiver(payment_removed, dispatch_uid="quickbooks-payment-void-outbox")
def queue_payment_void(sender, *, payment_id: int, company_id: int, invoice_number: str, **kwargs) -> None:
    """A payment deleted or refunded here is voided in QuickBooks (deleted in QuickBooks Desktop, which cannot void
    a payment); queued in the transaction of the removal."""
    from integrations.quickbooks.desktop.services import desktop_active, desktop_payment_enqueue
    from integrations.services.payments import payment_void_enqueue

    if desktop_active(company_id=company_id) is not None:
        desktop_payment_enqueue(
            company_id=company_id,
            payment_id=payment_id,
            operation=SyncOperation.VOID,
            invoice_number=invoice_number,
        )
        return

    payment_void_enqueue(company_id=company_id, payment_id=payment_id, invoice_number=invoice_number)


@receiver([post_save, post_delete], sender=QuickBooksMapping, dispatch_uid="quickbooks-mappings-version")
def bump_mappings_version(sender, instance, **kwargs) -> None:
    """Workers cache mapping tables per company; a new version (same transaction as the change) retires them."""
    QuickBooksConnection.objects.filter(company_id=instance.company_id).update(
        mappings_version=F("mappings_version") + 1
    )
