"""Writes made "directly in QuickBooks" — by a person in QuickBooks, not by the app: the simulator's pages
and its control API. They go through the same rules as the API (so a refused one answers the same Fault)
and notify the webhook like any other write."""

from __future__ import annotations

from . import accounting, faults
from .models import SimCompany
from .store import find, lock_company, money

DIRECT_OPERATIONS = ("void", "delete")


def create(company: SimCompany, entity_type: str, data) -> dict:
    """Create a Customer or an Invoice from an Intuit-shaped body. Call inside a transaction."""
    company = lock_company(company)
    return accounting.write(company, entity_type, data)[entity_type]


def receive_payment(company: SimCompany, invoice_id: str, *, amount=None) -> dict:
    """Create a Payment applied to the invoice (its whole open balance unless `amount` is given), as a
    QuickBooks user would. Call inside a transaction. Returns the Payment as the API renders it."""
    company = lock_company(company)
    invoice = find(company, "Invoice", invoice_id)
    if invoice is None or invoice.deleted:
        raise faults.object_not_found("Invoice", invoice_id)
    balance = money(invoice.body.get("Balance", 0))
    if amount is None or amount == "":
        amount = balance
    try:
        amount = money(amount)
    except ValueError:
        raise faults.business_validation("The payment amount must be a number.", "TotalAmt") from None
    if balance <= 0:
        raise faults.business_validation(f"Invoice {invoice_id} has no open balance.")
    if amount <= 0:
        raise faults.business_validation("The payment amount must be more than zero.", "TotalAmt")
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


def void_or_delete(company: SimCompany, entity_type: str, entity_id: str, operation: str) -> dict:
    """Void or delete an Invoice or Payment as a QuickBooks user would (no SyncToken needed: the user sees
    the current version). Voiding or deleting a payment gives its invoices their balance back and bumps
    their SyncToken. Returns the API's answer body (`{"Payment": {…}, "time": …}`)."""
    if operation not in DIRECT_OPERATIONS:
        raise faults.unsupported_operation(operation)
    company = lock_company(company)
    entity = find(company, entity_type, entity_id)
    if entity is None or entity.deleted:
        raise faults.object_not_found(entity_type, entity_id)
    if operation == "void" and entity.voided:
        raise faults.business_validation(f"{entity_type} {entity_id} is already void.")
    if operation == "void" and entity_type == "Payment":
        return accounting.write(
            company,
            entity_type,
            {"Id": entity.entity_id, "SyncToken": str(entity.sync_token), "sparse": True},
            operation="update",
            include="void",
        )
    return accounting.write(
        company,
        entity_type,
        {"Id": entity.entity_id, "SyncToken": str(entity.sync_token)},
        operation=operation,
    )
