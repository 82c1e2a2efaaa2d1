"""Receiving a payment on the QuickBooks side (the simulator's "receive payment" button)."""

from __future__ import annotations

from . import accounting, faults
from .models import SimCompany
from .store import find, lock_company, money


def receive_payment(company: SimCompany, invoice_id: str, *, amount=None) -> dict:
    """Create a Payment applied to the invoice (its whole open balance unless `amount` is given), as a
    QuickBooks user would. Call inside a transaction. Returns the Payment as the API renders it."""
    company = lock_company(company)
    invoice = find(company, "Invoice", invoice_id)
    if invoice is None or invoice.deleted:
        raise faults.object_not_found("Invoice", invoice_id)
    balance = money(invoice.body.get("Balance", 0))
    if amount is None:
        amount = balance
    if balance <= 0:
        raise faults.business_validation(f"Invoice {invoice_id} has no open balance.")
    data = {
        "CustomerRef": {"value": invoice.customer_ref},
        "TotalAmt": str(amount),
        "CurrencyRef": invoice.body.get("CurrencyRef"),
        "Line": [{"Amount": str(amount), "LinkedTxn": [{"TxnId": invoice.entity_id, "TxnType": "Invoice"}]}],
        "PrivateNote": "Received in the QuickBooks simulator",
    }
    if "ExchangeRate" in invoice.body:
        data["ExchangeRate"] = invoice.body["ExchangeRate"]
    return accounting.write(company, "Payment", data)["Payment"]
