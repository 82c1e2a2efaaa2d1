"""Extension points of billing, with ids only: receivers re-read what they need.

After the transaction that made the change commits (never on rollback):

    invoice_finalized(sender=Invoice, invoice_id, company_id)
    invoice_updated(sender=Invoice, invoice_id, company_id)   # only for finalized or paid invoices
    invoice_voided(sender=Invoice, invoice_id, company_id)
    payment_recorded(sender=Payment, payment_id, invoice_id, company_id)

Inside that transaction, for outboxes that must commit or roll back with the change itself:

    invoice_changed(sender=Invoice, invoice_id, company_id, change)   # change: finalized | updated | voided
    payment_removed(sender=Payment, payment_id, invoice_id, company_id, invoice_number, reason)
                                                     # reason: deleted | refunded; the row is already gone

`invoice_changed` and `payment_removed` receivers may only write rows (no network, no slow work): they run
while the invoice is locked. Do the work after commit.
"""

from django.dispatch import Signal

invoice_finalized = Signal()
invoice_updated = Signal()
invoice_voided = Signal()
payment_recorded = Signal()
invoice_changed = Signal()
payment_removed = Signal()
