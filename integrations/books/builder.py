"""Billing models + mappings → books documents (integrations/books/document.py).

The one place that decides which QuickBooks name and id each of our clients, products and tax rates stands
for, so the CSV, IIF, qbXML and Online renderers cannot disagree. Reads are batched: a chunk of invoices costs
a fixed handful of queries whatever its line count.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import NamedTuple

from django.db.models import QuerySet

from attune_qbo.billing.calculations import HUNDRED
from attune_qbo.billing.models import Client, Invoice, InvoiceLine, TaxRate
from attune_qbo.core.money import ZERO, round_cents
from integrations.books.document import (
    ACCOUNTS_RECEIVABLE,
    DEFAULT_INCOME_ACCOUNT,
    DEFAULT_ITEM_NAME,
    AccountRef,
    Address,
    BooksBatch,
    BooksCustomer,
    BooksInvoice,
    BooksItem,
    BooksLine,
    BooksPayment,
    BooksTaxCode,
    BooksTaxLine,
    CustomerRef,
    ItemRef,
    Ref,
    TaxCodeRef,
    clean_name,
)
from integrations.models import DEFAULT_KEY, LinkType, MappingKind, QuickBooksLink, QuickBooksMapping

CHUNK = 200  # invoices read per round of queries


@dataclass
class BooksMappings:
    """A company's mappings in one realm (or none), as (id, name) pairs: ``items``/``tax_codes`` keyed by our
    product / tax rate id or ``default``; ``customers`` by client id (from the links). Empty without a realm:
    every name is then our own."""

    items: dict[str, Ref] = field(default_factory=dict)
    tax_codes: dict[str, Ref] = field(default_factory=dict)
    sales_tax_codes: dict[str, Ref] = field(default_factory=dict)
    income_account: Ref | None = None
    customers: dict[int, str] = field(default_factory=dict)
    invoices: dict[int, str] = field(default_factory=dict)

    @classmethod
    def load(cls, *, company_id: int, realm_id: str | None) -> BooksMappings:
        mappings = cls()
        if not realm_id:
            return mappings
        rows = QuickBooksMapping.objects.filter(company_id=company_id, realm_id=realm_id).values_list(
            "kind", "local_key", "qbo_id", "qbo_name"
        )
        for kind, key, qbo_id, qbo_name in rows:
            ref = Ref(id=qbo_id, name=(qbo_name or "").strip())
            if kind == MappingKind.ITEM:
                mappings.items[key] = ref
            elif kind == MappingKind.TAX_CODE:
                mappings.tax_codes[key] = ref
            elif kind == MappingKind.SALES_TAX_CODE:
                mappings.sales_tax_codes[key] = ref
            elif kind == MappingKind.INCOME_ACCOUNT and key == DEFAULT_KEY:
                mappings.income_account = ref
        links = QuickBooksLink.objects.filter(
            company_id=company_id, realm_id=realm_id, object_type__in=[LinkType.CLIENT, LinkType.INVOICE]
        ).values_list("object_type", "object_id", "qbo_id")
        for object_type, object_id, qbo_id in links:
            (mappings.customers if object_type == LinkType.CLIENT else mappings.invoices)[object_id] = qbo_id
        return mappings

    def item(self, product_id: int | None, product_name: str | None) -> ItemRef:
        """As the Online push chooses (MappingTable.item_for): the product's own item mapping, else the default
        item mapping; without either, an item named like the product (or ``DEFAULT_ITEM_NAME``)."""
        own = self.items.get(str(product_id)) if product_id is not None else None
        if own is not None:
            return ItemRef(id=own.id, name=own.name or clean_name(product_name or "") or DEFAULT_ITEM_NAME)
        default = self.items.get(DEFAULT_KEY)
        if default is not None:
            return ItemRef(id=default.id, name=default.name or DEFAULT_ITEM_NAME)
        return ItemRef(name=clean_name(product_name or "") or DEFAULT_ITEM_NAME)

    def customer(self, client) -> CustomerRef:
        """The client as a QuickBooks customer: its link's id in this realm (if any) and its cleaned name."""
        return CustomerRef(id=self.customers.get(client.pk, ""), name=clean_name(client.display_name))

    def tax_code(self, tax_rate_id: int, tax_rate_name: str) -> TaxCodeRef:
        key = str(tax_rate_id)
        mapped = self.tax_codes.get(key) or self.sales_tax_codes.get(key)
        if mapped is not None:
            return TaxCodeRef(id=mapped.id, name=mapped.name or clean_name(tax_rate_name))
        return TaxCodeRef(name=clean_name(tax_rate_name))

    def income(self) -> AccountRef:
        if self.income_account is not None:
            return AccountRef(id=self.income_account.id, name=self.income_account.name or DEFAULT_INCOME_ACCOUNT)
        return AccountRef(name=DEFAULT_INCOME_ACCOUNT)


def client_address(client) -> Address:
    """The client's billing address with whitespace collapsed (addresses keep their ``:``)."""

    def flat(text: str) -> str:
        return " ".join((text or "").split())

    return Address(
        line1=flat(client.address_line1),
        line2=flat(client.address_line2),
        city=flat(client.city),
        region=flat(client.region),
        postal_code=flat(client.postal_code),
        country=flat(client.country),
    )


def books_customer(client, mappings: BooksMappings) -> BooksCustomer:
    ref = mappings.customer(client)
    return BooksCustomer(
        local_id=client.pk,
        ref=ref,
        display_name=ref.name,
        email=(client.email or "").strip(),
        bill_address=client_address(client),
        currency=client.currency,
    )


def spread_tax(amounts: list[Decimal], tax: Decimal) -> list[Decimal]:
    """Split one rate's tax over its lines in proportion to their amounts, in whole cents that add up to
    ``tax`` exactly (largest remainder; ties to the earlier line)."""
    base = sum(amounts, ZERO)
    if not amounts:
        return []
    if base == 0:
        return [tax] + [ZERO] * (len(amounts) - 1)
    cents = int((tax * 100).to_integral_value())
    exact = [Decimal(cents) * amount / base for amount in amounts]
    shares = [int(value.to_integral_value(rounding="ROUND_FLOOR")) for value in exact]
    leftover = cents - sum(shares)
    order = sorted(range(len(amounts)), key=lambda i: (-(exact[i] - shares[i]), i))
    for i in order[: max(leftover, 0)]:
        shares[i] += 1
    return [Decimal(share) / 100 for share in shares]


class LineRow(NamedTuple):
    """One invoice line as the builder reads it: plain values, no model instances (a fast path for exports of
    thousands of invoices; ``line_row`` makes one from a saved InvoiceLine)."""

    description: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    product_id: int | None
    product_name: str | None
    product_description: str | None
    tax_rate_id: int | None
    tax_rate_name: str | None
    tax_rate_percent: Decimal | None
    tax_rate_taxable: bool | None


LINE_ROW_FIELDS = (
    "description",
    "quantity",
    "unit_price",
    "amount",
    "product_id",
    "product__name",
    "product__description",
    "tax_rate_id",
    "tax_rate__name",
    "tax_rate__percent",
    "tax_rate__taxable",
)


def line_row(line) -> LineRow:
    """A LineRow from a saved InvoiceLine (``product`` and ``tax_rate`` loaded), or the row itself."""
    if isinstance(line, LineRow):
        return line
    product, rate = line.product if line.product_id else None, line.tax_rate if line.tax_rate_id else None
    return LineRow(
        description=line.description,
        quantity=line.quantity,
        unit_price=line.unit_price,
        amount=line.amount,
        product_id=line.product_id,
        product_name=product.name if product else None,
        product_description=product.description if product else None,
        tax_rate_id=line.tax_rate_id,
        tax_rate_name=rate.name if rate else None,
        tax_rate_percent=rate.percent if rate else None,
        tax_rate_taxable=rate.taxable if rate else None,
    )


def books_invoice(invoice, lines, mappings: BooksMappings) -> BooksInvoice:
    """One invoice (``client`` loaded); ``lines`` are its InvoiceLines (``product``, ``tax_rate`` loaded) or
    LineRows, in order."""
    income = mappings.income()
    rows = [line_row(line) for line in lines]
    by_rate: dict[int, list[int]] = {}
    drafts = []
    for index, line in enumerate(rows):
        taxable = bool(line.tax_rate_id and line.tax_rate_taxable and line.tax_rate_percent)
        if taxable:
            by_rate.setdefault(line.tax_rate_id, []).append(index)
        drafts.append(
            {
                "position": index + 1,
                "item": mappings.item(line.product_id, line.product_name),
                "description": line.description or line.product_description or "",
                "quantity": line.quantity,
                "rate": line.unit_price,
                "amount": line.amount,
                "taxable": taxable,
                "tax_code": mappings.tax_code(line.tax_rate_id, line.tax_rate_name) if line.tax_rate_id else None,
                "tax_rate_id": line.tax_rate_id,
                "tax_percent": line.tax_rate_percent if line.tax_rate_id else ZERO,
                "income_account": income,
            }
        )
    tax_lines = []
    tax_shares = [ZERO] * len(drafts)
    for rate_id, indexes in by_rate.items():
        first = rows[indexes[0]]
        base = sum((drafts[i]["amount"] for i in indexes), ZERO)
        amount = round_cents(base * first.tax_rate_percent / HUNDRED)  # billing.calculations: once per rate
        for i, share in zip(indexes, spread_tax([drafts[i]["amount"] for i in indexes], amount), strict=True):
            tax_shares[i] = share
        tax_lines.append(
            BooksTaxLine(
                tax_code=mappings.tax_code(rate_id, first.tax_rate_name),
                tax_rate_id=rate_id,
                percent=first.tax_rate_percent,
                base=base,
                amount=amount,
            )
        )
    return BooksInvoice(
        local_id=invoice.pk,
        number=invoice.number,
        customer=mappings.customer(invoice.client),
        txn_date=invoice.issue_date,
        due_date=invoice.due_date,
        currency=invoice.currency,
        lines=tuple(BooksLine(**draft, tax_amount=share) for draft, share in zip(drafts, tax_shares, strict=True)),
        tax_lines=tuple(tax_lines),
        status=invoice.status,
        memo=invoice.memo,
        exchange_rate=invoice.exchange_rate,
        amount_paid=invoice.amount_paid,
        ar_account=AccountRef(name=ACCOUNTS_RECEIVABLE),
        ref=Ref(id=mappings.invoices.get(invoice.pk, "")),
    )


def books_invoices(*, company, invoice_ids: Iterable[int], mappings: BooksMappings) -> Iterator[BooksInvoice]:
    """The invoices (of ``company`` only), in the order given, read ``CHUNK`` at a time: two queries per
    chunk (invoices with clients; lines as plain rows with their product and tax rate)."""
    ids = list(invoice_ids)
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        found = {
            invoice.pk: invoice
            for invoice in Invoice.objects.filter(company=company, pk__in=chunk).select_related("client")
        }
        lines: dict[int, list[LineRow]] = {pk: [] for pk in found}
        rows = (
            InvoiceLine.objects.filter(invoice_id__in=list(found))
            .order_by("invoice_id", "position", "id")
            .values_list("invoice_id", *LINE_ROW_FIELDS)
        )
        for invoice_id, *values in rows:
            lines[invoice_id].append(LineRow(*values))
        for pk in chunk:
            if pk in found:
                yield books_invoice(found[pk], lines[pk], mappings)


def _id_set(ids):
    """Ids for an ``__in`` filter: a QuerySet stays a subquery (no 20,000 parameters), anything else a list."""
    return ids if isinstance(ids, QuerySet) else list(ids)


def books_customers(*, company, client_ids: Iterable[int], mappings: BooksMappings) -> list[BooksCustomer]:
    return [
        books_customer(client, mappings)
        for client in Client.objects.filter(company=company, pk__in=_id_set(client_ids)).order_by("display_name", "pk")
    ]


def books_customers_of_invoices(*, company, invoice_ids: Iterable[int], mappings: BooksMappings) -> list[BooksCustomer]:
    """The customers a set of invoices is for, each once, by name."""
    client_ids = Invoice.objects.filter(company=company, pk__in=_id_set(invoice_ids)).values_list(
        "client_id", flat=True
    )
    return books_customers(company=company, client_ids=client_ids.distinct(), mappings=mappings)


def books_items(*, company, invoice_ids: Iterable[int], mappings: BooksMappings) -> list[BooksItem]:
    """The items the invoices' lines sell, once each by name (several products may map to one item)."""
    income = mappings.income()
    seen: dict[str, BooksItem] = {}
    rows = (
        InvoiceLine.objects.filter(invoice__company=company, invoice_id__in=_id_set(invoice_ids))
        .values_list("product_id", "product__name", "product__description", "product__unit_price", "tax_rate__taxable")
        .distinct()
        .order_by("product__name")
    )
    for product_id, name, description, unit_price, taxable in rows:
        ref = mappings.item(product_id, name)
        if ref.name in seen:
            continue
        seen[ref.name] = BooksItem(
            local_id=product_id,
            ref=ref,
            description=" ".join((description or "").split()),
            unit_price=unit_price if unit_price is not None else ZERO,
            income_account=income,
            taxable=bool(taxable),
        )
    return sorted(seen.values(), key=lambda item: item.ref.name.lower())


def books_tax_codes(*, company, invoice_ids: Iterable[int], mappings: BooksMappings) -> list[BooksTaxCode]:
    rates = TaxRate.objects.filter(company=company, pk__in=_rate_ids(company, invoice_ids)).order_by("name")
    return [
        BooksTaxCode(
            local_id=rate.pk,
            ref=mappings.tax_code(rate.pk, rate.name),
            name=clean_name(rate.name),
            percent=rate.percent,
            taxable=rate.taxable,
        )
        for rate in rates
    ]


def _rate_ids(company, invoice_ids: Iterable[int]):
    return (
        InvoiceLine.objects.filter(
            invoice__company=company, invoice_id__in=_id_set(invoice_ids), tax_rate__isnull=False
        )
        .values_list("tax_rate_id", flat=True)
        .distinct()
    )


def books_payment(payment, mappings: BooksMappings) -> BooksPayment:
    """One payment against one of our invoices (``invoice`` and its ``client`` loaded)."""
    invoice = payment.invoice
    return BooksPayment(
        local_id=payment.pk,
        invoice_local_id=invoice.pk,
        invoice_number=invoice.number,
        customer=mappings.customer(invoice.client),
        amount=payment.amount,
        txn_date=payment.date,
        method=payment.get_method_display(),
        reference=" ".join((payment.reference or "").split()),
        invoice_ref=Ref(id=mappings.invoices.get(invoice.pk, "")),
    )


def books_batch(*, company, invoice_ids: Iterable[int], realm_id: str | None = None) -> BooksBatch:
    """Invoices plus the customers, items and tax codes they refer to, all in memory (for small sets and
    tests; exports stream with ``books_invoices``)."""

    ids = list(invoice_ids)
    mappings = BooksMappings.load(company_id=company.pk, realm_id=realm_id)
    return BooksBatch(
        company_name=company.name,
        home_currency=company.default_currency,
        customers=tuple(books_customers_of_invoices(company=company, invoice_ids=ids, mappings=mappings)),
        items=tuple(books_items(company=company, invoice_ids=ids, mappings=mappings)),
        tax_codes=tuple(books_tax_codes(company=company, invoice_ids=ids, mappings=mappings)),
        invoices=tuple(books_invoices(company=company, invoice_ids=ids, mappings=mappings)),
    )
