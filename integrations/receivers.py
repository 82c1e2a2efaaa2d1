"""Billing → outbox: the pending sync entry is written in the same transaction as the invoice change."""

from django.dispatch import receiver

from attune_qbo.billing.signals import invoice_changed
from integrations.models import SyncOperation


@receiver(invoice_changed, dispatch_uid="quickbooks-outbox")
def upsert_pending_push(sender, *, invoice_id: int, company_id: int, change: str, **kwargs) -> None:
    from integrations.services.sync import sync_enqueue

    operation = SyncOperation.VOID if change == "voided" else SyncOperation.PUSH
    sync_enqueue(company_id=company_id, invoice_id=invoice_id, operation=operation)
