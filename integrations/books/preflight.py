"""Pre-flight and mapping resolution: billing models → a books document with every QuickBooks reference resolved,
or a refusal a person can act on (docs/decisions/0016).

Everything QuickBooks would refuse is checked here, before any call: no lines, a number too long, a ``:`` in the
client's name, an e-mail QuickBooks does not take, currencies the company cannot hold, negative lines, and
mappings that are missing (`MappingIncomplete` lists them all at once). What passes is a `PushPlan`: the
`BooksInvoice` (lines with their item and tax code ids, the US transaction tax code or Automated Sales Tax total,
our marker) and notes for people. The QuickBooks Online renderer (`quickbooks/online/render.py`) reads only that.

`PushRefused` (not retried: a person must change something) and `MappingIncomplete` are raised here and by the
targets, and shown as the entry's message.
"""

from __future__ import annotations

from collections import namedtuple
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

from attune_qbo.billing.models import InvoiceLine
from attune_qbo.core.exceptions import ApplicationError
from attune_qbo.core.prepared import PreparedQuery
from integrations.books.document import (
    AccountRef,
    Address,
    BooksCustomer,
    BooksInvoice,
    BooksLine,
    BooksPayment,
    CustomerRef,
    ItemRef,
    Ref,
    TaxCodeRef,
    ours_marker,
    payment_marker,
)
from integrations.models import SalesTaxMode
from integrations.quickbooks.constants import CUSTOMER_NAME_FORBIDDEN, DOC_NUMBER_MAX_LENGTH, EMAIL_MAX_LENGTH

if TYPE_CHECKING:
    from integrations.quickbooks.online.render import CompanyProfile


class PushRefused(ApplicationError):
    """A push that cannot succeed as it stands (a person must change something). Not retried."""

    code = "push_refused"

    def __init__(self, message: str, *, qbo_code: str = "", payload=None) -> None:
        super().__init__(message)
        self.qbo_code = qbo_code
        self.payload = payload


class MappingIncomplete(PushRefused):
    code = "mapping_incomplete"


@dataclass(frozen=True)
class InvoiceTax:
    """How the invoice's tax reaches QuickBooks. US manual: the transaction tax code; US AST: our total tax."""

    txn_tax_code_id: str | None = None
    total_tax: Decimal | None = None


@dataclass(frozen=True)
class ResolvedLine:
    """An invoice line with its QuickBooks ids already chosen (from the mappings); `online_line` makes it a
    `BooksLine`."""

    description: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    item_id: str
    taxable: bool
    tax_code_id: str | None  # non-US: the mapped TaxCode id; US: unused (TAX/NON)


@dataclass(frozen=True)
class PushPlan:
    """What pre-flight resolved: the invoice as a books document (lines with their QuickBooks ids, how tax is
    sent, our marker; the customer's id is filled in once the customer is ensured) and notes for people."""

    document: BooksInvoice
    notes: list[str] = field(default_factory=list)

    @property
    def lines(self) -> tuple[BooksLine, ...]:
        return self.document.lines

    @property
    def tax(self) -> InvoiceTax:
        code = self.document.txn_tax_code
        return InvoiceTax(txn_tax_code_id=code.id if code else None, total_tax=self.document.sent_tax_total)


# --- the books document, as the Online push reads our models ---------------------------------------------------
# Values are taken as we hold them (no name cleaning: QuickBooks Online takes them as they are, and the pre-flight
# refuses what it would not), so the payloads are exactly those sent before the books document existed.


def online_address(client) -> Address:
    return Address(
        line1=client.address_line1 or "",
        line2=client.address_line2 or "",
        city=client.city or "",
        region=client.region or "",
        postal_code=client.postal_code or "",
        country=client.country or "",
    )


def online_customer(client) -> BooksCustomer:
    """Our client as the QuickBooks Online customer we send (its id is the link's, known to the push)."""
    return BooksCustomer(
        local_id=client.pk,
        ref=CustomerRef(name=client.display_name),
        display_name=client.display_name,
        email=client.email or "",
        bill_address=online_address(client),
        currency=client.currency or "",
    )


def online_line(position: int, line: ResolvedLine | BooksLine) -> BooksLine:
    if isinstance(line, BooksLine):
        return line
    return BooksLine(
        position=position,
        item=ItemRef(id=line.item_id),
        description=line.description,
        quantity=line.quantity,
        rate=line.unit_price,
        amount=line.amount,
        taxable=line.taxable,
        tax_code=TaxCodeRef(id=line.tax_code_id) if line.tax_code_id is not None else None,
    )


def online_invoice(invoice, *, lines, tax: InvoiceTax | None = None, customer_id: str = "") -> BooksInvoice:
    """Our invoice (``client`` loaded) with its resolved lines (`ResolvedLine` or `BooksLine`) and tax."""
    tax = tax or InvoiceTax()
    client = invoice.client
    return BooksInvoice(
        local_id=invoice.pk,
        number=invoice.number,
        customer=CustomerRef(id=customer_id, name=client.display_name),
        txn_date=invoice.issue_date,
        due_date=invoice.due_date,
        currency=invoice.currency,
        lines=tuple(online_line(index + 1, line) for index, line in enumerate(lines)),
        status=invoice.status,
        memo=invoice.memo,
        exchange_rate=invoice.exchange_rate,
        amount_paid=invoice.amount_paid,
        bill_email=client.email or "",
        bill_address=online_address(client),
        txn_tax_code=TaxCodeRef(id=tax.txn_tax_code_id) if tax.txn_tax_code_id else None,
        sent_tax_total=tax.total_tax,
        marker=ours_marker(invoice.company_id, invoice.pk),
    )


def online_payment(
    payment,
    *,
    customer_id: str,
    invoice_qbo_id: str,
    method_id: str | None = None,
    deposit_account_id: str | None = None,
    currency: str | None = None,
) -> BooksPayment:
    """Our payment (``invoice`` loaded) applied to its invoice in QuickBooks, with the mapped method/account."""
    invoice = payment.invoice
    return BooksPayment(
        local_id=payment.pk,
        invoice_local_id=invoice.pk,
        invoice_number=invoice.number,
        customer=CustomerRef(id=customer_id),
        amount=payment.amount,
        txn_date=payment.date,
        reference=payment.reference or "",
        invoice_ref=Ref(id=invoice_qbo_id),
        method_ref=Ref(id=method_id or ""),
        deposit_account=AccountRef(id=deposit_account_id or ""),
        currency=currency or "",
        marker=payment_marker(payment.company_id, payment.pk),
    )


# --- pre-flight -----------------------------------------------------------------------------------------


_LINE_COLUMNS = (
    "description", "quantity", "unit_price", "amount", "product_id", "product__name", "tax_rate_id", "tax_rate__name",
    "tax_rate__taxable", "tax_rate__percent",
)  # fmt: skip
_LineRow = namedtuple("_LineRow", _LINE_COLUMNS)
# The invoice's lines as plain rows (not three model instances per line), in their order; compiled once per process:
# this runs for every push.
_invoice_lines = PreparedQuery(
    lambda invoice_id: InvoiceLine.objects.filter(invoice_id=invoice_id).values(*_LINE_COLUMNS), invoice_id=int
)


def preflight(invoice, *, connection, profile: CompanyProfile) -> PushPlan:
    """Everything QuickBooks would refuse, checked before any call, with a message a person can act on; what passes
    is the invoice as a books document with its QuickBooks references resolved (the customer id comes later)."""
    lines = [_LineRow(**row) for row in _invoice_lines.all(invoice_id=invoice.pk)]
    if not lines:
        raise PushRefused(f"Invoice {invoice.number} has no lines; QuickBooks needs at least one.")
    if len(invoice.number) > DOC_NUMBER_MAX_LENGTH:
        raise PushRefused(
            f"Invoice number “{invoice.number}” is longer than QuickBooks' {DOC_NUMBER_MAX_LENGTH} "
            "characters. Shorten it and retry."
        )
    if CUSTOMER_NAME_FORBIDDEN in invoice.client.display_name:
        raise PushRefused(
            f"Client name “{invoice.client.display_name}” contains “:”, which QuickBooks does not "
            "allow in customer names. Rename the client and retry."
        )
    email = invoice.client.email or ""
    if email and (len(email) > EMAIL_MAX_LENGTH or "." not in email.rsplit("@", 1)[-1]):
        raise PushRefused(
            f"Client {invoice.client.display_name}'s e-mail “{email}” is not one QuickBooks accepts (at most "
            f"{EMAIL_MAX_LENGTH} characters, with a dot after the @). Correct it and retry.",
            qbo_code="client_email",
        )
    notes: list[str] = []
    foreign = bool(profile.home_currency) and invoice.currency != profile.home_currency
    if foreign and not profile.multicurrency_enabled:
        raise PushRefused(
            f"Invoice {invoice.number} is in {invoice.currency}, but the QuickBooks company works only "
            f"in {profile.home_currency} (multicurrency is off)."
        )
    if profile.multicurrency_enabled and invoice.client.currency and invoice.currency != invoice.client.currency:
        raise PushRefused(
            f"Invoice {invoice.number} is in {invoice.currency}, but its client {invoice.client.display_name} is a "
            f"{invoice.client.currency} customer, and a QuickBooks customer has one currency. Invoice this client "
            f"in {invoice.client.currency}, or use a client set up in {invoice.currency}.",
            qbo_code="currency_mismatch",
        )
    if foreign and not invoice.exchange_rate:
        notes.append(
            f"No exchange rate is set on this invoice, so QuickBooks applied its own {invoice.currency} → "
            f"{profile.home_currency} rate: the {profile.home_currency} amounts in QuickBooks are QuickBooks'."
        )
    mappings = _mapping_table(connection)
    resolved, missing = [], []
    taxable_rates: dict[int, str] = {}
    for line in lines:
        if line.amount < 0 or line.quantity < 0 or line.unit_price < 0:
            raise PushRefused(f"Invoice {invoice.number} has a line with a negative amount; QuickBooks refuses it.")
        item_id = mappings.item_for(line.product_id)
        if item_id is None:
            what = f"product “{line.product__name}”" if line.product_id else "lines without a product"
            missing.append(f"map {what} to a QuickBooks item")
        taxable = bool(line.tax_rate_id and line.tax_rate__taxable and line.tax_rate__percent)
        if taxable:
            taxable_rates[line.tax_rate_id] = line.tax_rate__name
        tax_code_id = None
        if not profile.is_us:
            tax_code_id = mappings.tax_code_for(line.tax_rate_id)
            if tax_code_id is None:
                what = f"tax rate “{line.tax_rate__name}”" if line.tax_rate_id else "lines without a tax rate"
                missing.append(f"map {what} to a QuickBooks tax code")
        resolved.append(
            ResolvedLine(
                description=line.description,
                quantity=line.quantity,
                unit_price=line.unit_price,
                amount=line.amount,
                item_id=item_id or "",
                taxable=taxable,
                tax_code_id=tax_code_id,
            )
        )
    tax = _us_sales_tax(invoice, profile, mappings, taxable_rates, missing) if profile.is_us else InvoiceTax()
    if missing:
        unique = list(dict.fromkeys(missing))
        raise MappingIncomplete("Before this invoice can go to QuickBooks: " + "; ".join(unique) + ".")
    return PushPlan(document=online_invoice(invoice, lines=resolved, tax=tax), notes=notes)


_mapping_tables: dict[tuple, tuple[int, object]] = {}


def _mapping_table(connection):
    """The company's mapping table in this realm, cached per worker while `connection.mappings_version` (read fresh
    with every claim, bumped by every mapping change) is the version it was read with."""
    from integrations.services.mappings import mapping_table

    key = (connection.pk, connection.realm_id, connection.created_at)
    cached = _mapping_tables.get(key)
    if cached is not None and cached[0] == connection.mappings_version:
        return cached[1]
    table = mapping_table(company_id=connection.company_id, realm_id=connection.realm_id)
    if len(_mapping_tables) > 1000:
        _mapping_tables.clear()
    _mapping_tables[key] = (connection.mappings_version, table)
    return table


def _us_sales_tax(invoice, profile: CompanyProfile, mappings, taxable_rates: dict[int, str], missing) -> InvoiceTax:
    """US tax (QBO-REFERENCE §5.1): Automated Sales Tax takes our total tax; manual sales tax takes the one
    tax code of the invoice's one taxable rate (a US invoice holds one)."""
    if profile.sales_tax_mode == SalesTaxMode.AUTOMATED:
        return InvoiceTax(total_tax=invoice.tax_total)
    if not taxable_rates:
        return InvoiceTax()
    names = sorted(taxable_rates.values())
    if profile.sales_tax_mode == SalesTaxMode.OFF:
        raise PushRefused(
            f"Invoice {invoice.number} charges tax ({', '.join(names)}), but sales tax is turned off in the "
            "QuickBooks company, so QuickBooks would show it without tax. Turn on sales tax in QuickBooks, then "
            "press “Refresh company settings” and retry."
        )
    if len(taxable_rates) > 1:
        raise PushRefused(
            f"Invoice {invoice.number} uses {len(names)} taxable rates ({', '.join(names)}), but a QuickBooks US "
            "invoice holds one sales tax rate. Use one tax rate on this invoice (or split it into one invoice per "
            "rate), then retry.",
            qbo_code="us_one_tax_rate",
        )
    rate_id, name = next(iter(taxable_rates.items()))
    code = mappings.sales_tax_code_for(rate_id)
    if code is None:
        missing.append(f"map tax rate “{name}” to a QuickBooks sales tax code")
    return InvoiceTax(txn_tax_code_id=code)
