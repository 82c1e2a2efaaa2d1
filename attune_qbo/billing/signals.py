"""Extension points of billing. Each is sent after the transaction that made the change commits (never
on rollback), with ids only: receivers re-read what they need.

    invoice_finalized(sender=Invoice, invoice_id, company_id)
    invoice_updated(sender=Invoice, invoice_id, company_id)   # only for finalized or paid invoices
    invoice_voided(sender=Invoice, invoice_id, company_id)
    payment_recorded(sender=Payment, payment_id, invoice_id, company_id)
"""

from django.dispatch import Signal

invoice_finalized = Signal()
invoice_updated = Signal()
invoice_voided = Signal()
payment_recorded = Signal()
