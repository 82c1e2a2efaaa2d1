"""The neutral "books document": what one company's customers, items, tax and invoices look like to ANY
QuickBooks, with every reference already resolved. Plain dataclasses; no Django in this module.

Renderers (QBO JSON, qbXML, IIF, CSV) read these and never touch our models or mappings. Two facts shape it:

* QuickBooks Online addresses objects by **Id**, QuickBooks Desktop (qbXML, IIF) and the CSV import by **name**
  (a Desktop *full name*: ``Parent:Child``, ``:`` being the sub-item/job separator). So every reference is a
  :class:`Ref` carrying both, each empty when unknown: ``CustomerRef(id="58", name="Acme Ltd")``.
* Names made from our own data (client, product, tax rate names) have already been made *leaf* names by the
  builder (``clean_name``): whitespace collapsed (no tabs or newlines), ``:`` replaced by ``" - "`` — so a
  client called "Acme: West" never turns into the job "West" of a customer "Acme" in Desktop. Names that came
  from a QuickBooks mapping (``QuickBooksMapping.qbo_name``) are QuickBooks' own full names and are kept as
  they are, ``:`` included. Renderers still apply their format's own escaping (IIF quotes, CSV formulas, XML).

Money is ``Decimal`` (two places for amounts, up to four for quantity and rate); dates are ``datetime.date``.
Every invoice balances by construction: ``subtotal == sum(line.amount)``, ``tax_total == sum(tax.amount)`` ==
``sum(line.tax_amount)``, ``total == subtotal + tax_total``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

ZERO = Decimal("0.00")

# Where an invoice's parts are posted when no mapping names the account (QuickBooks Desktop's stock names).
ACCOUNTS_RECEIVABLE = "Accounts Receivable"
DEFAULT_INCOME_ACCOUNT = "Sales"
SALES_TAX_PAYABLE = "Sales Tax Payable"
# The item a line without a product (and without a default item mapping) is sold as.
DEFAULT_ITEM_NAME = "Services"

_WHITESPACE = re.compile(r"\s+")
_COLON = re.compile(r"\s*:\s*")


def clean_name(name: str) -> str:
    """One of OUR names as a QuickBooks leaf name: no tabs/newlines/runs of spaces, ``:`` → ``" - "``.

    QuickBooks forbids ``:`` in Online customer names and reads it as the parent separator in Desktop full
    names; quotes and non-ASCII are kept here (each renderer escapes them for its format)."""
    text = _WHITESPACE.sub(" ", name or "").strip()
    return _COLON.sub(" - ", text).strip()


MARKER_PATTERN = re.compile(r"\[attune:(\d+):(\d+)\]")


def ours_marker(company_id: int, invoice_id: int) -> str:
    """Written with an invoice we send (Online: its PrivateNote), so one found by number is recognised as ours."""
    return f"[attune:{company_id}:{invoice_id}]"


def payment_marker(company_id: int, payment_id: int) -> str:
    """Written with a payment we send: a webhook for it is recognised as ours even before its link is saved (the
    push's answer still in flight, or lost)."""
    return f"[attune:{company_id}:p{payment_id}]"


@dataclass(frozen=True)
class Ref:
    """A reference to a QuickBooks object: Online ``id`` and Desktop/CSV ``name``; either may be empty."""

    id: str = ""
    name: str = ""

    def __bool__(self) -> bool:
        return bool(self.id or self.name)


class CustomerRef(Ref):
    """A QuickBooks Customer (our Client)."""


class ItemRef(Ref):
    """A QuickBooks Item (our Product, or the default item)."""


class TaxCodeRef(Ref):
    """A QuickBooks tax code. Online: a TaxCode id (non-US) or ``TAX``/``NON`` (US, in ``name`` and ``id``);
    Desktop: the sales tax item or code name."""


class AccountRef(Ref):
    """A QuickBooks Account (income, A/R, sales tax payable)."""


@dataclass(frozen=True)
class Address:
    line1: str = ""
    line2: str = ""
    city: str = ""
    region: str = ""  # state / province: Online CountrySubDivisionCode, Desktop State
    postal_code: str = ""
    country: str = ""  # ISO 3166-1 alpha-2 as we hold it

    def __bool__(self) -> bool:
        return any((self.line1, self.line2, self.city, self.region, self.postal_code, self.country))

    def lines(self) -> list[str]:
        """Postal lines, top to bottom, empty parts left out (IIF BADDR1–5, qbXML Addr1–5)."""
        city_line = " ".join(part for part in (self.city, self.region, self.postal_code) if part)
        return [part for part in (self.line1, self.line2, city_line, self.country) if part]


@dataclass(frozen=True)
class BooksCustomer:
    local_id: int
    ref: CustomerRef
    display_name: str  # our name, cleaned (== ref.name unless a QuickBooks name is known)
    email: str = ""
    bill_address: Address = field(default_factory=Address)
    currency: str = ""


@dataclass(frozen=True)
class BooksItem:
    """An item the invoices sell. ``local_id`` is the product id, None for the default item."""

    local_id: int | None
    ref: ItemRef
    description: str = ""
    unit_price: Decimal = ZERO
    income_account: AccountRef = field(default_factory=lambda: AccountRef(name=DEFAULT_INCOME_ACCOUNT))
    taxable: bool = False
    kind: str = "service"  # service | non_inventory (we sell no inventory)


@dataclass(frozen=True)
class BooksTaxCode:
    """One of our tax rates as QuickBooks sees it (a Desktop sales tax item / an Online tax code)."""

    local_id: int
    ref: TaxCodeRef
    name: str  # our rate's name, cleaned
    percent: Decimal
    taxable: bool
    account: AccountRef = field(default_factory=lambda: AccountRef(name=SALES_TAX_PAYABLE))


@dataclass(frozen=True)
class BooksLine:
    position: int
    item: ItemRef
    description: str
    quantity: Decimal
    rate: Decimal  # unit price
    amount: Decimal  # quantity × rate, rounded half-up to cents (billing.calculations)
    taxable: bool
    tax_code: TaxCodeRef | None = None  # the line's tax rate as QuickBooks sees it; None = no tax rate
    tax_rate_id: int | None = None
    tax_percent: Decimal = ZERO
    # This line's share of its rate's tax: the rate's tax (rounded once per rate) spread over its lines by
    # amount, remainder cents on the largest lines, so the shares add up to the invoice's tax exactly.
    tax_amount: Decimal = ZERO
    income_account: AccountRef = field(default_factory=lambda: AccountRef(name=DEFAULT_INCOME_ACCOUNT))
    service_date: date | None = None


@dataclass(frozen=True)
class BooksTaxLine:
    """The tax of one rate on one invoice (IIF's sales tax SPL line; qbXML's ItemSalesTaxRef)."""

    tax_code: TaxCodeRef
    tax_rate_id: int
    percent: Decimal
    base: Decimal
    amount: Decimal
    account: AccountRef = field(default_factory=lambda: AccountRef(name=SALES_TAX_PAYABLE))


@dataclass(frozen=True)
class BooksInvoice:
    local_id: int
    number: str
    customer: CustomerRef
    txn_date: date
    due_date: date
    currency: str
    lines: tuple[BooksLine, ...]
    tax_lines: tuple[BooksTaxLine, ...] = ()
    status: str = ""  # ours: finalized | paid | void | draft
    memo: str = ""
    terms: str = ""  # QuickBooks terms name; empty: we send the due date instead
    exchange_rate: Decimal | None = None
    amount_paid: Decimal = ZERO
    ar_account: AccountRef = field(default_factory=lambda: AccountRef(name=ACCOUNTS_RECEIVABLE))
    ref: Ref = field(default_factory=Ref)  # the invoice in QuickBooks, when it has been pushed there
    # What the Online push resolves besides (books/preflight.py); the builder leaves them empty.
    bill_email: str = ""  # the client's e-mail as we hold it (Online BillEmail)
    bill_address: Address = field(default_factory=Address)  # the client's address as we hold it (Online BillAddr)
    txn_tax_code: TaxCodeRef | None = None  # US manual sales tax: the invoice's one sales tax code (TxnTaxCodeRef)
    sent_tax_total: Decimal | None = None  # US Automated Sales Tax: our tax total, which QuickBooks honours
    marker: str = ""  # `ours_marker`: how our copy is recognised in QuickBooks (Online PrivateNote)

    @property
    def subtotal(self) -> Decimal:
        return sum((line.amount for line in self.lines), ZERO)

    @property
    def tax_total(self) -> Decimal:
        return sum((tax.amount for tax in self.tax_lines), ZERO)

    @property
    def total(self) -> Decimal:
        return self.subtotal + self.tax_total


@dataclass(frozen=True)
class BooksPayment:
    local_id: int
    invoice_local_id: int
    invoice_number: str
    customer: CustomerRef
    amount: Decimal
    txn_date: date
    method: str = ""  # our method label ("Bank transfer"); renderers map it to a payment method name/ref
    reference: str = ""
    invoice_ref: Ref = field(default_factory=Ref)
    ref: Ref = field(default_factory=Ref)
    # What the Online push resolves besides (from the payment mappings); the builder leaves them empty.
    method_ref: Ref = field(default_factory=Ref)  # QuickBooks PaymentMethod
    deposit_account: AccountRef = field(default_factory=AccountRef)  # empty: Undeposited Funds
    currency: str = ""  # sent only to a multicurrency QuickBooks company
    marker: str = ""  # `payment_marker`: how our copy is recognised in QuickBooks (Online PrivateNote)


@dataclass(frozen=True)
class BooksBatch:
    """Everything one export or sync run needs, lists first: customers and items the invoices refer to."""

    company_name: str
    home_currency: str
    customers: tuple[BooksCustomer, ...] = ()
    items: tuple[BooksItem, ...] = ()
    tax_codes: tuple[BooksTaxCode, ...] = ()
    invoices: tuple[BooksInvoice, ...] = ()
    payments: tuple[BooksPayment, ...] = ()

    @property
    def total(self) -> Decimal:
        return sum((invoice.total for invoice in self.invoices), ZERO)

    @property
    def line_count(self) -> int:
        return sum(len(invoice.lines) for invoice in self.invoices)
