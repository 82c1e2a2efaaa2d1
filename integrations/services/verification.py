"""Does QuickBooks hold the same invoice as we do? One comparison, used after every write (from the answer the
write already got: no extra call) and by `manage.py quickbooks_verify`.

Figures compared: total, tax, balance, lines (count and amounts), customer, memo, number, dates, void. A
difference is never swallowed: the push records it as *drift* with both figures and the likely cause.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from decimal import Decimal, InvalidOperation

from attune_qbo.billing.models import InvoiceStatus
from attune_qbo.core.money import round_cents
from integrations.quickbooks.constants import MEMO_MAX_LENGTH

ZERO = Decimal("0.00")


@dataclass(frozen=True)
class Difference:
    field: str
    label: str
    ours: str
    quickbooks: str

    def __str__(self) -> str:
        return f"{self.label}: attune {self.ours}, QuickBooks {self.quickbooks}"


def _money(value) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return round_cents(Decimal(str(value)))
    except (InvalidOperation, ValueError):
        return None


def _shown(value: Decimal | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _sales_lines(qbo: dict) -> list[dict]:
    return [line for line in qbo.get("Line") or [] if line.get("DetailType") == "SalesItemLineDetail"]


def invoice_differences(
    invoice,
    qbo: dict,
    *,
    line_amounts: list[Decimal],
    customer_id: str | None = None,
    balance: Decimal | None = None,
) -> list[Difference]:
    """Every way `qbo` (a QuickBooks Invoice object) differs from our `invoice`. `line_amounts` are our lines'
    amounts in order; `customer_id` the QuickBooks Customer our client is linked to (None: not checked);
    `balance` the balance QuickBooks should show now (default: ours, every payment counted)."""
    differences: list[Difference] = []

    def money(field: str, label: str, ours: Decimal, theirs_raw) -> None:
        theirs = _money(theirs_raw)
        if theirs != round_cents(ours):
            differences.append(Difference(field, label, _shown(round_cents(ours)), _shown(theirs)))

    if invoice.status == InvoiceStatus.VOID:
        theirs = _money(qbo.get("TotalAmt"))
        if theirs != ZERO or _money(qbo.get("Balance")) != ZERO:
            differences.append(Difference("void", "Void", "void", f"open, total {_shown(theirs)}"))
        return differences
    money("total", "Total", invoice.total, qbo.get("TotalAmt"))
    money("tax", "Tax", invoice.tax_total, (qbo.get("TxnTaxDetail") or {}).get("TotalTax", 0))
    money(
        "balance",
        "Balance due",
        invoice.total - invoice.amount_paid if balance is None else balance,
        qbo.get("Balance"),
    )
    theirs_lines = [_money(line.get("Amount")) for line in _sales_lines(qbo)]
    ours_lines = [round_cents(amount) for amount in line_amounts]
    if theirs_lines != ours_lines:
        differences.append(
            Difference(
                "lines",
                "Lines",
                f"{len(ours_lines)}: " + ", ".join(_shown(a) for a in ours_lines),
                f"{len(theirs_lines)}: " + ", ".join(_shown(a) for a in theirs_lines),
            )
        )
    theirs_customer = str((qbo.get("CustomerRef") or {}).get("value") or "")
    if customer_id is not None and theirs_customer != str(customer_id):
        differences.append(Difference("customer", "Customer", f"QuickBooks customer {customer_id}", theirs_customer))
    ours_memo = (invoice.memo or "")[:MEMO_MAX_LENGTH]
    theirs_memo = (qbo.get("CustomerMemo") or {}).get("value") or ""
    if ours_memo != theirs_memo:
        differences.append(Difference("memo", "Memo", ours_memo or "(none)", theirs_memo or "(none)"))
    for name, label, ours, theirs in (
        ("number", "Number", invoice.number, qbo.get("DocNumber") or ""),
        ("date", "Date", invoice.issue_date.isoformat(), qbo.get("TxnDate") or ""),
        ("due_date", "Due date", invoice.due_date.isoformat(), qbo.get("DueDate") or ""),
    ):
        if ours != theirs:
            differences.append(Difference(name, label, ours, theirs or "(none)"))
    return differences


def likely_causes(differences: list[Difference], *, invoice, profile) -> list[str]:
    """Plain-words guesses at why QuickBooks' figures differ, for the person who has to look."""
    fields = {d.field for d in differences}
    by_field = {d.field: d for d in differences}
    causes: list[str] = []
    if fields & {"total", "tax"}:
        tax = by_field.get("tax")
        gap = None
        if tax is not None:
            ours, theirs = _money(tax.ours), _money(tax.quickbooks)
            gap = abs(ours - theirs) if ours is not None and theirs is not None else None
        if gap is not None and gap <= Decimal("0.01") * max(1, invoice.lines.count()):
            causes.append("Rounding: QuickBooks rounded the tax differently (a cent or so).")
        elif profile.automated_sales_tax:
            causes.append(
                "Automated Sales Tax: QuickBooks computed the tax from the shipping or billing address. Check the "
                "client's address here and in QuickBooks."
            )
        elif profile.is_us:
            causes.append(
                "Tax code: the rate of the QuickBooks sales tax code mapped to this invoice's tax rate differs from "
                "ours. Check the mapping, or the code's rates in QuickBooks."
            )
        else:
            causes.append(
                "Tax codes: the rates of the QuickBooks tax codes mapped to our tax rates differ from ours. Check "
                "the mappings, or the rates in QuickBooks."
            )
    if "balance" in fields and "total" not in fields:
        causes.append(
            "Payments: a payment is recorded on one side only (payments recorded here are not sent to QuickBooks "
            "yet, and payments recorded in QuickBooks are not brought back yet)."
        )
    if fields & {"lines", "customer", "memo", "number", "date", "due_date", "void"}:
        causes.append("Someone changed the invoice in QuickBooks, or QuickBooks did not take part of our change.")
    return causes


def drift_record(differences: list[Difference], causes: list[str]) -> dict:
    """What the sync log keeps: both figures of each difference, and the likely causes."""
    return {"differences": [asdict(d) for d in differences], "causes": causes}


# --- the books check ------------------------------------------------------------------------------------


@dataclass
class BooksRow:
    """One finding of `books_check`, structured (the reconciliation page and its CSV)."""

    kind: str  # missing_there | missing_here | drift
    number: str
    invoice_id: int | None = None
    qbo_id: str = ""
    status: str = ""  # our invoice's status
    differences: list[dict] = field(default_factory=list)
    text: str = ""
    snapshot: dict | None = None  # missing_here: QuickBooks' object (what a link would keep)


@dataclass
class BooksReport:
    """What `books_check` found for one company: each difference as a line a person can read (`problems`), and
    the same findings structured (`rows`)."""

    company: str
    realm_id: str
    compared: int = 0
    reads: int = 0
    not_ours: int = 0
    problems: list[str] = field(default_factory=list)
    rows: list[BooksRow] = field(default_factory=list)

    def add(self, row: BooksRow) -> None:
        self.rows.append(row)
        if row.kind == "drift":
            self.problems.extend(f"invoice {row.number} (Id {row.qbo_id}): {Difference(**d)}" for d in row.differences)
        else:
            self.problems.append(row.text)

    @property
    def agrees(self) -> bool:
        return not self.problems


def books_check(*, connection, since=None) -> BooksReport:
    """Read the company's invoices from QuickBooks (paged query) and compare every one we sent, or should have
    sent, with ours: missing, extra, total, tax, balance, lines, customer, memo, number, dates, void."""
    from django.db.models import Exists, OuterRef, Q

    from attune_qbo.billing.models import Invoice
    from integrations.models import LinkType, QuickBooksLink
    from integrations.outbox.enqueue import invoices_in_scope
    from integrations.quickbooks.client import literal
    from integrations.quickbooks.online.render import MARKER_PATTERN
    from integrations.services.api import client_for

    client = client_for(connection)
    report = BooksReport(company=str(connection.company), realm_id=connection.realm_id)
    statement = "select * from Invoice"
    if since is not None:
        statement += f" where TxnDate >= {literal(since.isoformat())}"  # noqa: S608  (escaped literal)
    statement += " orderby Id"  # stable pages: nothing shifts between reads
    theirs = {str(row["Id"]): row for row in client.query(statement, entity="Invoice")}
    links = QuickBooksLink.objects.filter(company_id=connection.company_id, realm_id=connection.realm_id)
    invoice_links = {link.object_id: link for link in links.filter(object_type=LinkType.INVOICE)}
    customer_ids = dict(links.filter(object_type=LinkType.CLIENT).values_list("object_id", "qbo_id"))
    ours = Invoice.objects.filter(company_id=connection.company_id).exclude(status=InvoiceStatus.DRAFT)
    linked = links.filter(object_type=LinkType.INVOICE, object_id=OuterRef("pk"))
    ours = ours.filter(Q(Exists(linked)) | Q(pk__in=invoices_in_scope(connection).values("pk")))
    if since is not None:
        ours = ours.filter(issue_date__gte=since)
    linked_ids = set()
    for invoice in ours.select_related("client").prefetch_related("lines").iterator(chunk_size=500):
        link = invoice_links.get(invoice.pk)
        if link is None:
            if invoice.status != InvoiceStatus.VOID:
                report.add(
                    BooksRow(
                        "missing_there",
                        invoice.number,
                        invoice.pk,
                        status=invoice.status,
                        text=f"missing: invoice {invoice.number} was never sent to QuickBooks",
                    )
                )
            continue
        linked_ids.add(link.qbo_id)
        qbo = theirs.get(link.qbo_id)
        if qbo is None:
            report.add(
                BooksRow(
                    "missing_there",
                    invoice.number,
                    invoice.pk,
                    link.qbo_id,
                    status=invoice.status,
                    text=f"missing: invoice {invoice.number} (QuickBooks Id {link.qbo_id}) is not there",
                )
            )
            continue
        report.compared += 1
        differences = invoice_differences(
            invoice,
            qbo,
            line_amounts=[line.amount for line in invoice.lines.all()],
            customer_id=customer_ids.get(invoice.client_id),
        )
        if differences:
            report.add(
                BooksRow(
                    "drift",
                    invoice.number,
                    invoice.pk,
                    link.qbo_id,
                    status=invoice.status,
                    differences=[asdict(d) for d in differences],
                )
            )
    all_linked = {link.qbo_id for link in invoice_links.values()}
    for qbo_id, qbo in theirs.items():
        if qbo_id in linked_ids:
            continue
        marker = MARKER_PATTERN.search(qbo.get("PrivateNote") or "")
        if marker and int(marker.group(1)) == connection.company_id:
            if qbo_id not in all_linked:
                report.add(
                    BooksRow(
                        "missing_here",
                        str(qbo.get("DocNumber", "?")),
                        int(marker.group(2)),
                        qbo_id,
                        snapshot=qbo,
                        text=f"extra: QuickBooks invoice {qbo.get('DocNumber', '?')} (Id {qbo_id}) was sent by "
                        "attune but no invoice here is linked to it",
                    )
                )
        elif not marker:
            report.not_ours += 1
    report.reads = client.calls
    return report
