"""Our billing objects → the qbXML dataclasses, with Desktop's pre-flight (what QuickBooks Desktop would refuse,
refused here first with a message a person can act on).

Desktop refers to customers and items by name (FullName), so the mapping is by name: a Client becomes the
customer named after its display name, a Product the item named after the product."""

from __future__ import annotations

from dataclasses import dataclass

from attune_qbo.billing.models import Client, Invoice
from integrations.quickbooks.desktop import constants as c
from integrations.quickbooks.desktop import qbxml


@dataclass(frozen=True)
class PreflightProblem(Exception):
    message: str


def customer_for(client: Client, *, list_id: str = "", edit_sequence: str = "") -> qbxml.Customer:
    return qbxml.Customer(
        name=client.display_name,
        email=client.email,
        bill_address=qbxml.Address(
            line1=client.address_line1,
            line2=client.address_line2,
            city=client.city,
            state=client.region,
            postal_code=client.postal_code,
            country=client.country,
        ),
        list_id=list_id,
        edit_sequence=edit_sequence,
    )


def customer_name(client: Client) -> str:
    return qbxml.clean_name(client.display_name, c.CUSTOMER_NAME_MAX)


def invoice_for(
    invoice: Invoice, *, known_items: set[str] | None, txn_id: str = "", edit_sequence: str = ""
) -> qbxml.Invoice:
    """The invoice as QuickBooks Desktop will hold it. Raises `PreflightProblem` when Desktop would refuse it.

    `known_items` are the item names the last ItemQuery returned (None: not read yet, QuickBooks checks)."""
    if not invoice.number or len(invoice.number) > c.REF_NUMBER_MAX:
        raise PreflightProblem(
            f"Invoice number “{invoice.number}” is longer than the {c.REF_NUMBER_MAX} characters QuickBooks Desktop "
            "allows for an invoice number. Renumber it, then retry."
        )
    lines = []
    for position, line in enumerate(invoice.lines.all(), start=1):
        if line.product is None:
            raise PreflightProblem(
                f"Line {position} of invoice {invoice.number} has no product: QuickBooks Desktop needs an item on "
                "every line. Pick a product for it, then retry."
            )
        item_name = qbxml.clean_name(line.product.name, c.ITEM_NAME_MAX)
        if known_items is not None and item_name.casefold() not in known_items:
            raise PreflightProblem(
                f"QuickBooks Desktop has no active item named “{item_name}” (line {position} of invoice "
                f"{invoice.number}). Create that item in QuickBooks (Lists → Item List) or rename the product, "
                "then retry."
            )
        taxable = bool(line.tax_rate and line.tax_rate.taxable and line.tax_rate.percent)
        lines.append(
            qbxml.InvoiceLine(
                item_name=item_name,
                description=line.description or line.product.name,
                quantity=line.quantity,
                rate=line.unit_price,
                amount=line.amount,
                taxable=taxable,
            )
        )
    if not lines:
        raise PreflightProblem(f"Invoice {invoice.number} has no lines; QuickBooks Desktop needs at least one.")
    return qbxml.Invoice(
        customer_name=customer_name(invoice.client),
        txn_date=invoice.issue_date,
        ref_number=invoice.number,
        due_date=invoice.due_date,
        memo=invoice.memo,
        lines=tuple(lines),
        txn_id=txn_id,
        edit_sequence=edit_sequence,
    )
