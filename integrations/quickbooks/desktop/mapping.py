"""Our billing objects as QuickBooks Desktop will hold them: the books document (`integrations.books`, shared with
the CSV/IIF exports and Online) for this company file, and Desktop's pre-flight (what QuickBooks Desktop would
refuse, refused here first with a message a person can act on).

Desktop refers to customers and items by name (FullName). Mappings and links are filed under the company file's
realm key, so a product without an item mapping sells as the item named like the product."""

from __future__ import annotations

from dataclasses import dataclass

from attune_qbo.billing.models import Client
from integrations.books.builder import BooksMappings, books_customer
from integrations.books.document import BooksCustomer, BooksInvoice
from integrations.quickbooks.desktop import constants as c
from integrations.quickbooks.desktop import qbxml


@dataclass(frozen=True)
class PreflightProblem(Exception):
    message: str


def mappings_for(*, company_id: int, realm_key: str) -> BooksMappings:
    return BooksMappings.load(company_id=company_id, realm_id=realm_key)


def desktop_customer(client: Client, mappings: BooksMappings) -> BooksCustomer:
    return books_customer(client, mappings)


def customer_name(client: Client) -> str:
    """The customer's FullName in QuickBooks Desktop (what CustomerAdd sent as Name)."""
    return qbxml.clean_name(books_customer(client, BooksMappings()).display_name, c.CUSTOMER_NAME_MAX)


def preflight(invoice: BooksInvoice, *, known_items: set[str] | None) -> None:
    """Raise `PreflightProblem` when QuickBooks Desktop would refuse the invoice. `known_items` are the item
    names (case-folded) the last ItemQuery returned; None: not read yet (QuickBooks checks, 3140)."""
    if not invoice.number or len(invoice.number) > c.REF_NUMBER_MAX:
        raise PreflightProblem(
            f"Invoice number “{invoice.number}” is longer than the {c.REF_NUMBER_MAX} characters QuickBooks Desktop "
            "allows for an invoice number. Renumber it, then retry."
        )
    if not invoice.lines:
        raise PreflightProblem(f"Invoice {invoice.number} has no lines; QuickBooks Desktop needs at least one.")
    for line in invoice.lines:
        if known_items is not None and line.item.name.casefold() not in known_items:
            raise PreflightProblem(
                f"QuickBooks Desktop has no active item named “{line.item.name}” (line {line.position} of invoice "
                f"{invoice.number}). Create that item in QuickBooks (Lists → Item List) or rename the product, "
                "then retry."
            )
