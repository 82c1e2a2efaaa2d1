"""Our billing objects as QuickBooks Desktop will hold them: the books document (`integrations.books`, shared with
the CSV/IIF exports and Online) for this company file, and Desktop's pre-flight (what QuickBooks Desktop would
refuse, refused here first with a message a person can act on).

Desktop refers to customers and items by name (FullName). Mappings and links are filed under the company file's
realm key, so a product without an item mapping sells as the item named like the product.

The Desktop mapping page (desktop/forms.py) stores names in `QuickBooksMapping` rows under that realm key, with
an empty `qbo_id` and the Desktop FullName in `qbo_name`:

| kind | local_key | Desktop name |
|---|---|---|
| `item` | product id, or `default` | the item a product's lines sell (`InvoiceLineAdd/ItemRef`) |
| `tax_code` | tax rate id | the sales tax item charged on invoices taxed at that rate (`ItemSalesTaxRef`) |
| `sales_tax_code` | tax rate id | the sales tax code of lines taxed at that rate (`SalesTaxCodeRef`, default `Tax`) |
| `sales_tax_code` | `default` | the sales tax code of untaxed lines (default `Non`) |
| `income_account` | `default` | the income account for items created in QuickBooks for attune |

`tax_code` is the books document's tax code of a rate (BooksMappings.tax_code), so the books document, the IIF
export and qbXML all name the same sales tax item."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from attune_qbo.billing.models import Client
from integrations.books.builder import BooksMappings, books_customer
from integrations.books.document import BooksCustomer, BooksInvoice
from integrations.models import DEFAULT_KEY
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


def invoice_tax(invoice: BooksInvoice, mappings: BooksMappings) -> qbxml.DesktopTax:
    """The sales tax item and codes of one invoice. The books document names each rate's sales tax item
    (`tax_code` mapping, else the rate's own name); the codes come from the `sales_tax_code` mappings."""
    untaxed = mappings.sales_tax_codes.get(DEFAULT_KEY)
    non_taxable = (untaxed.name if untaxed else "") or c.NON_TAXABLE_CODE
    if not invoice.tax_lines:
        return qbxml.DesktopTax(non_taxable_code=non_taxable)
    first = invoice.tax_lines[0]
    taxed = mappings.sales_tax_codes.get(str(first.tax_rate_id))
    return qbxml.DesktopTax(
        item=first.tax_code.name,
        taxable_code=(taxed.name if taxed else "") or c.TAXABLE_CODE,
        non_taxable_code=non_taxable,
    )


def preflight(
    invoice: BooksInvoice,
    *,
    known_items: set[str] | None,
    tax: qbxml.DesktopTax | None = None,
    tax_rates: dict[str, str] | None = None,
) -> None:
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
    if len({(tax_line.tax_code.name.casefold(), tax_line.percent) for tax_line in invoice.tax_lines}) > 1:
        rates = ", ".join(f"{line.tax_code.name} ({line.percent.normalize():f} %)" for line in invoice.tax_lines)
        raise PreflightProblem(
            f"Invoice {invoice.number} charges more than one sales tax ({rates}); QuickBooks Desktop charges one "
            "sales tax item per invoice. Put the lines taxed differently on separate invoices, then retry."
        )
    if tax is not None and tax.item:
        if len(tax.item) > c.ITEM_NAME_MAX or ":" in tax.item:
            raise PreflightProblem(
                f"The sales tax item “{tax.item}” of invoice {invoice.number} is not a QuickBooks Desktop sales tax "
                f"item name (at most {c.ITEM_NAME_MAX} characters, no “:”). Name the sales tax item for this rate "
                "on the QuickBooks Desktop mapping page, then retry."
            )
        if known_items is not None and tax.item.casefold() not in known_items:
            raise PreflightProblem(
                f"QuickBooks Desktop has no active sales tax item named “{tax.item}” (the tax of invoice "
                f"{invoice.number}). Create it in QuickBooks (Lists → Item List → Sales Tax Item) with the same rate, "
                "or choose the existing one on the QuickBooks Desktop mapping page, then retry."
            )
        rates = {name.casefold(): rate for name, rate in (tax_rates or {}).items()}
        theirs = rates.get(tax.item.casefold())
        ours = invoice.tax_lines[0].percent if invoice.tax_lines else None
        if theirs is not None and ours is not None and Decimal(theirs) != ours:
            raise PreflightProblem(
                f"QuickBooks Desktop's sales tax item “{tax.item}” charges {Decimal(theirs).normalize():f} %, but "
                f"invoice {invoice.number} is taxed at {ours.normalize():f} % here: QuickBooks would compute another "
                "total. Choose the sales tax item with the same rate on the QuickBooks Desktop mapping page (or "
                "correct the rate in one place), then retry."
            )
