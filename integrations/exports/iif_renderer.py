"""Books documents → an IIF file for QuickBooks Desktop (File → Utilities → Import → IIF Files; QBO-REFERENCE
§6.1).

Three blocks, lists before the transactions that name them: customers (``!CUST``), items (``!INVITEM``: one
service item per item the lines sell, one sales tax item per tax rate), then one ``TRNS``/``SPL``…/``ENDTRNS``
group per invoice. The TRNS line debits Accounts Receivable with the invoice total; each SPL line credits an
income account (negative amount, negative quantity, as QuickBooks writes invoices), one SPL per tax rate credits
Sales Tax Payable; TRNS + every SPL = 0.00 exactly (amounts come balanced from the books document).

Text, by the rules of the format (the choices are in docs/customer/integrations/iif-import-quickbooks-desktop.md):

* Fields are tab-separated lines: a tab, CR or LF inside a value becomes a space.
* A ``"`` inside a value becomes ``'``: QuickBooks reads a field that starts with ``"`` as a quoted field.
* ``:`` separates a parent from a sub-customer/job or sub-item in a Desktop *full name*. Our own names reach
  here without ``:`` (the books builder turned it into " - "); names that came from a QuickBooks mapping keep
  it on purpose ("Services:Consulting" is a sub-item).
* QuickBooks Desktop reads IIF in the Windows ANSI code page: the file is Windows-1252. Accented Latin letters
  (é, ü, ß, …) pass unchanged; anything else is folded to its plain letter where one exists, else ``?``.
* Desktop limits names (41 characters per customer name part, 31 per item name part); longer names are cut.
  Two different names that end up the same after any of this get " (2)", " (3)"… so they never merge.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal

from integrations.books.document import (
    ZERO,
    BooksCustomer,
    BooksInvoice,
    BooksItem,
    BooksTaxCode,
)

ENCODING = "cp1252"
DATE_PATTERN = "%m/%d/%Y"
CUSTOMER_NAME_MAX = 41
ITEM_NAME_MAX = 31
SEPARATOR = ":"

CUST_HEADER = ("!CUST", "NAME", "BADDR1", "BADDR2", "BADDR3", "BADDR4", "BADDR5", "EMAIL", "TAXABLE")
INVITEM_HEADER = ("!INVITEM", "NAME", "INVITEMTYPE", "DESC", "ACCNT", "PRICE", "TAXABLE")
TRNS_HEADER = ("!TRNS", "TRNSID", "TRNSTYPE", "DATE", "ACCNT", "NAME", "AMOUNT", "DOCNUM", "MEMO", "DUEDATE", "TOPRINT")
SPL_HEADER = (
    "!SPL",
    "SPLID",
    "TRNSTYPE",
    "DATE",
    "ACCNT",
    "NAME",
    "AMOUNT",
    "DOCNUM",
    "MEMO",
    "PRICE",
    "QNTY",
    "INVITEM",
    "TAXABLE",
)
ENDTRNS_HEADER = ("!ENDTRNS",)


_UNSAFE = re.compile(r'[\t\r\n"]')


def iif_text(value) -> str:
    """One field's text: no tabs or line breaks, no double quotes, only Windows-1252 characters."""
    text = "" if value is None else str(value)
    if _UNSAFE.search(text):
        text = " ".join(text.replace('"', "'").split())
    if not text.isascii():
        try:
            text.encode(ENCODING)
        except UnicodeEncodeError:
            text = "".join(_ansi(char) for char in text)
    return text


def _ansi(char: str) -> str:
    try:
        char.encode(ENCODING)
        return char
    except UnicodeEncodeError:
        folded = unicodedata.normalize("NFKD", char).encode(ENCODING, "ignore").decode(ENCODING)
        return folded or "?"


@dataclass
class NameBook:
    """The names written for one list (customers or items): cleaned for IIF, cut to Desktop's length, and
    kept apart — the same source name always gets the same written name, two different ones never do."""

    max_length: int
    written: dict[str, str] = field(default_factory=dict)
    taken: set[str] = field(default_factory=set)

    def __call__(self, name: str) -> str:
        if name in self.written:
            return self.written[name]
        parts = [iif_text(part).strip()[: self.max_length].strip() for part in name.split(SEPARATOR)]
        base = SEPARATOR.join(part or "?" for part in parts)
        candidate, n = base, 1
        while candidate.lower() in self.taken:
            n += 1
            suffix = f" ({n})"
            head, _, leaf = base.rpartition(SEPARATOR)
            leaf = leaf[: self.max_length - len(suffix)] + suffix
            candidate = f"{head}{SEPARATOR}{leaf}" if head else leaf
        self.written[name] = candidate
        self.taken.add(candidate.lower())
        return candidate

    @property
    def renamed(self) -> dict[str, str]:
        return {source: written for source, written in self.written.items() if source != written}


@dataclass
class IifNames:
    customers: NameBook = field(default_factory=lambda: NameBook(CUSTOMER_NAME_MAX))
    items: NameBook = field(default_factory=lambda: NameBook(ITEM_NAME_MAX))


def row(*fields) -> str:
    return "\t".join(iif_text(value) for value in fields) + "\r\n"


def money(value: Decimal) -> str:
    return f"{value:.2f}"


def plain(value: Decimal) -> str:
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def percent(value: Decimal) -> str:
    return plain(value) + "%"


def tax_item_name(tax: BooksTaxCode) -> str:
    return tax.ref.name or tax.name


def customers_block(customers: Iterable[BooksCustomer], names: IifNames) -> Iterator[str]:
    yield row(*CUST_HEADER)
    for customer in customers:
        address = (customer.bill_address.lines() + [""] * 5)[:5]
        yield row("CUST", names.customers(customer.ref.name), *address, customer.email, "")


def items_block(items: Iterable[BooksItem], tax_codes: Iterable[BooksTaxCode], names: IifNames) -> Iterator[str]:
    yield row(*INVITEM_HEADER)
    for item in items:
        yield row(
            "INVITEM",
            names.items(item.ref.name),
            "SERV",
            item.description,
            item.income_account.name,
            plain(item.unit_price),
            "Y" if item.taxable else "N",
        )
    for tax in tax_codes:
        if tax.taxable and tax.percent:
            yield row(
                "INVITEM",
                names.items(tax_item_name(tax)),
                "COMPTAX",
                f"{tax.name} {percent(tax.percent)}",
                tax.account.name,
                percent(tax.percent),
                "N",
            )


def invoice_block(invoice: BooksInvoice, names: IifNames) -> Iterator[str]:
    """TRNS (A/R, +total), one SPL per line (income, −amount), one SPL per tax rate (−tax), ENDTRNS."""
    date = invoice.txn_date.strftime(DATE_PATTERN)
    customer = names.customers(invoice.customer.name)
    spl_total = ZERO
    yield row(
        "TRNS",
        "",
        "INVOICE",
        date,
        invoice.ar_account.name,
        customer,
        money(invoice.total),
        invoice.number,
        invoice.memo,
        invoice.due_date.strftime(DATE_PATTERN),
        "N",
    )
    for line in invoice.lines:
        spl_total -= line.amount
        yield row(
            "SPL",
            "",
            "INVOICE",
            date,
            line.income_account.name,
            customer,
            money(-line.amount),
            invoice.number,
            line.description,
            plain(line.rate),
            plain(-line.quantity),
            names.items(line.item.name),
            "Y" if line.taxable else "N",
        )
    for tax in invoice.tax_lines:
        spl_total -= tax.amount
        yield row(
            "SPL",
            "",
            "INVOICE",
            date,
            tax.account.name,
            "",
            money(-tax.amount),
            invoice.number,
            f"{tax.tax_code.name} {percent(tax.percent)}",
            percent(tax.percent),
            "",
            names.items(tax.tax_code.name),
            "N",
        )
    if spl_total + invoice.total != 0:  # cannot happen with a books document; never write an unbalanced one
        raise ValueError(f"Invoice {invoice.number} does not balance: {invoice.total} vs {-spl_total}.")
    yield row("ENDTRNS")


def transactions_header() -> Iterator[str]:
    yield row(*TRNS_HEADER)
    yield row(*SPL_HEADER)
    yield row(*ENDTRNS_HEADER)
