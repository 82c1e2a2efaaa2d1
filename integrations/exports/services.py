"""What an export holds, the record of it, and its file as a stream of bytes.

`export_plan` picks the invoices (the company's, by issue date, status, and "only not yet exported") and
counts them before anything is written — the page shows those figures before the download starts.
`export_start` records the export with the invoices it holds and returns the download; the record counts
as exported only once the last byte was handed over (`completed_at`), so a download cut short is not
left out of the next "only not yet exported".
"""

from __future__ import annotations

import io
import logging
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.db import transaction
from django.db.models import Count, Exists, OuterRef
from django.shortcuts import get_object_or_404
from django.utils import timezone

from attune_qbo.audit.services import audit_record
from attune_qbo.billing.models import Invoice, InvoiceStatus
from attune_qbo.core.exceptions import ApplicationError, ValidationError
from attune_qbo.core.money import round_cents
from integrations.books.builder import (
    BooksMappings,
    books_customers_of_invoices,
    books_invoices,
    books_items,
    books_tax_codes,
)
from integrations.exports import csv_renderer, iif_renderer
from integrations.models import ExportFormat, QuickBooksExport, QuickBooksExportInvoice

logger = logging.getLogger("qbo.exports")

STATUS_CHOICES = {
    "all": ("Finalized and paid", (InvoiceStatus.FINALIZED, InvoiceStatus.PAID)),
    "open": ("Finalized, not yet paid", (InvoiceStatus.FINALIZED,)),
    "paid": ("Paid", (InvoiceStatus.PAID,)),
}
DEFAULT_STATUS = "all"
PARTS = ("invoices", "customers")


class NothingToExport(ApplicationError):
    """The range holds no invoice to export: said plainly instead of handing over an empty file."""

    code = "nothing_to_export"
    status_code = 404


@dataclass(frozen=True)
class ExportRequest:
    format: str
    date_from: date | None = None
    date_to: date | None = None
    status: str = DEFAULT_STATUS
    only_new: bool = False
    date_format: str = csv_renderer.DEFAULT_DATE_FORMAT

    def __post_init__(self):
        if self.format not in ExportFormat.values:
            raise ValidationError(f"Unknown export format “{self.format}”; one of: {', '.join(ExportFormat.values)}.")
        if self.status not in STATUS_CHOICES:
            raise ValidationError(f"Unknown status “{self.status}”; one of: {', '.join(STATUS_CHOICES)}.")
        if self.date_format not in csv_renderer.DATE_FORMATS:
            raise ValidationError(
                f"Unknown date format “{self.date_format}”; one of: {', '.join(csv_renderer.DATE_FORMATS)}."
            )
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise ValidationError("The start date is after the end date.")

    def describe(self) -> str:
        status = STATUS_CHOICES[self.status][0].lower()
        if self.date_from and self.date_to:
            when = f"issued {self.date_from:%Y-%m-%d} to {self.date_to:%Y-%m-%d}"
        elif self.date_from:
            when = f"issued from {self.date_from:%Y-%m-%d}"
        elif self.date_to:
            when = f"issued up to {self.date_to:%Y-%m-%d}"
        else:
            when = "of any date"
        return f"{status} invoices {when}" + (" not exported before" if self.only_new else "")


@dataclass(frozen=True)
class ExportPlan:
    """The invoices an export will hold, counted, before a byte is written."""

    request: ExportRequest
    invoice_ids: list[int]
    line_counts: list[tuple[int, int]]
    total: Decimal
    already_exported: int  # left out by "only not yet exported"
    files: list[list[int]] = field(default_factory=list)  # CSV: invoice ids per file
    currencies: tuple[str, ...] = ()

    @property
    def invoice_count(self) -> int:
        return len(self.invoice_ids)

    @property
    def line_count(self) -> int:
        return sum(lines for _, lines in self.line_counts)

    @property
    def file_count(self) -> int:
        return len(self.files) if self.request.format == ExportFormat.CSV else 1

    @property
    def zipped(self) -> bool:
        return self.file_count > 1


@dataclass
class ExportDownload:
    file_name: str
    content_type: str
    chunks: Iterator[bytes]


def _selection(company, request: ExportRequest):
    invoices = Invoice.objects.filter(company=company, status__in=STATUS_CHOICES[request.status][1])
    if request.date_from:
        invoices = invoices.filter(issue_date__gte=request.date_from)
    if request.date_to:
        invoices = invoices.filter(issue_date__lte=request.date_to)
    return invoices


def exported_before(company, export_format: str):
    """A subquery: the invoice was held by a finished export of this format."""
    return Exists(
        QuickBooksExportInvoice.objects.filter(
            invoice_id=OuterRef("pk"),
            export__company=company,
            export__format=export_format,
            export__completed_at__isnull=False,
        )
    )


def export_plan(*, company, request: ExportRequest) -> ExportPlan:
    invoices = _selection(company, request)
    already = 0
    if request.only_new:
        marked = invoices.annotate(done=exported_before(company, request.format))
        already = marked.filter(done=True).count()
        invoices = marked.filter(done=False)
    rows = _counted(invoices)
    if not rows:
        before = f" ({already} {'was' if already == 1 else 'were'} exported before.)" if already else ""
        raise NothingToExport(f"There are no {request.describe()} in {company.name}: nothing to export.{before}")
    return _plan(request, rows, already=already)


def _counted(invoices) -> list[tuple[int, int, Decimal, str]]:
    """(invoice id, line count, total, currency) in export order: one query counts everything shown."""
    return list(
        invoices.order_by("issue_date", "number", "pk")
        .annotate(line_count=Count("lines"))
        .values_list("pk", "line_count", "total", "currency")
    )


def _plan(request: ExportRequest, rows: list[tuple[int, int, Decimal, str]], *, already: int = 0) -> ExportPlan:
    line_counts = [(pk, lines) for pk, lines, _, _ in rows]
    ids = [pk for pk, _ in line_counts]
    return ExportPlan(
        request=request,
        invoice_ids=ids,
        line_counts=line_counts,
        total=round_cents(sum((total for _, _, total, _ in rows), Decimal("0"))),
        already_exported=already,
        files=csv_renderer.split_into_files(line_counts) if request.format == ExportFormat.CSV else [ids],
        currencies=tuple(sorted({currency for _, _, _, currency in rows})),
    )


def _realm_id(company) -> str | None:
    """Names and ids come from the mappings of the connected QuickBooks company, if there is one."""
    from integrations.models import QuickBooksConnection

    connection = QuickBooksConnection.objects.filter(company=company).only("realm_id").first()
    return (connection.realm_id or None) if connection else None


def _file_name(company, export_format: str, plan: ExportPlan, suffix: str = "") -> str:
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    extension = "zip" if plan.zipped and export_format == ExportFormat.CSV and not suffix else export_format
    return f"{company.slug}-quickbooks-{suffix or 'invoices'}-{stamp}.{extension}"


@transaction.atomic
def export_start(*, company, user, request: ExportRequest) -> tuple[QuickBooksExport, ExportDownload]:
    """Record an export of what `request` selects now, and return its file (raises NothingToExport)."""
    plan = export_plan(company=company, request=request)
    export = QuickBooksExport.objects.create(
        company=company,
        format=request.format,
        created_by=user if getattr(user, "is_authenticated", False) else None,
        date_from=request.date_from,
        date_to=request.date_to,
        status_filter=request.status,
        only_new=request.only_new,
        date_format=request.date_format if request.format == ExportFormat.CSV else "",
        invoice_count=plan.invoice_count,
        line_count=plan.line_count,
        file_count=plan.file_count,
        total=plan.total,
        file_name=_file_name(company, request.format, plan),
    )
    QuickBooksExportInvoice.objects.bulk_create(
        [QuickBooksExportInvoice(export=export, invoice_id=pk) for pk in plan.invoice_ids], batch_size=1000
    )
    audit_record(
        action="quickbooks.export",
        company=company,
        actor=user,
        target=export,
        message=f"{export.get_format_display()} export of {plan.invoice_count} invoice"
        f"{'' if plan.invoice_count == 1 else 's'} ({request.describe()}).",
        details={"format": request.format, "invoices": plan.invoice_count, "total": str(plan.total)},
    )
    logger.info(
        "qbo.export.started company=%s export=%s format=%s invoices=%s",
        company.pk,
        export.pk,
        request.format,
        plan.invoice_count,
    )
    return export, _download(company, export, plan, record=True)


def export_again(*, company, export_id: int) -> ExportDownload:
    """The same invoices as an earlier export, with their figures as they are now (another company's → 404)."""
    export = get_object_or_404(QuickBooksExport, company=company, pk=export_id)
    rows = _counted(Invoice.objects.filter(company=company, pk__in=export.held.values("invoice_id")))
    if not rows:
        raise NothingToExport("The invoices of this export no longer exist.")
    request = ExportRequest(
        format=export.format,
        date_format=export.date_format or csv_renderer.DEFAULT_DATE_FORMAT,
        status=export.status_filter or DEFAULT_STATUS,
    )
    plan = _plan(request, rows)
    return _download(company, export, plan, record=False)


def customers_download(*, company, request: ExportRequest) -> ExportDownload:
    """The customers CSV for the invoices `request` selects (nothing is recorded: it holds no invoice)."""
    plan = export_plan(company=company, request=request)
    mappings = BooksMappings.load(company_id=company.pk, realm_id=_realm_id(company))

    def chunks():
        yield csv_renderer.customers_csv(
            books_customers_of_invoices(company=company, invoice_ids=plan.invoice_ids, mappings=mappings)
        )

    return ExportDownload(_file_name(company, "csv", plan, suffix="customers"), "text/csv; charset=utf-8", chunks())


def _download(company, export: QuickBooksExport, plan: ExportPlan, *, record: bool) -> ExportDownload:
    mappings = BooksMappings.load(company_id=company.pk, realm_id=_realm_id(company))
    held = export.held.values("invoice_id")  # the lists read the export's invoices as a subquery
    if plan.request.format == ExportFormat.IIF:
        body = _iif_chunks(company, plan, mappings, held)
        content_type = "application/octet-stream"  # QuickBooks opens .iif; no registered type exists
    elif plan.zipped:
        body = _zip_chunks(company, plan, mappings, held)
        content_type = "application/zip"
    else:
        body = _csv_chunks(company, plan.invoice_ids, plan, mappings)
        content_type = "text/csv; charset=utf-8"
    return ExportDownload(export.file_name, content_type, _finishing(export, body) if record else body)


def _finishing(export: QuickBooksExport, chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Pass the bytes on; mark the export complete after the last one (not when the download is cut short)."""
    yield from chunks
    QuickBooksExport.objects.filter(pk=export.pk, completed_at__isnull=True).update(completed_at=timezone.now())
    logger.info("qbo.export.completed company=%s export=%s", export.company_id, export.pk)


def _csv_chunks(company, ids: list[int], plan: ExportPlan, mappings) -> Iterator[bytes]:
    date_format = csv_renderer.DATE_FORMATS[plan.request.date_format]
    yield csv_renderer.invoices_csv(books_invoices(company=company, invoice_ids=ids, mappings=mappings), date_format)


class _Sink(io.RawIOBase):
    """A write-only, unseekable file for zipfile: what it receives is handed on chunk by chunk."""

    def __init__(self) -> None:
        self.pending: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.pending.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data, self.pending = b"".join(self.pending), []
        return data


def _zip_chunks(company, plan: ExportPlan, mappings, held) -> Iterator[bytes]:
    """Each CSV file (at most 100 invoices / 1,000 rows) as an entry of one zip, written as it is made; the
    customers CSV first, since QuickBooks needs the customers before it imports their invoices."""
    sink = _Sink()
    width = len(str(len(plan.files)))
    with zipfile.ZipFile(sink, mode="w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "0-customers.csv",
            csv_renderer.customers_csv(
                books_customers_of_invoices(company=company, invoice_ids=held, mappings=mappings)
            ),
        )
        yield sink.take()
        for number, ids in enumerate(plan.files, start=1):
            data = b"".join(_csv_chunks(company, ids, plan, mappings))
            archive.writestr(f"invoices-{number:0{width}d}-of-{len(plan.files)}.csv", data)
            yield sink.take()
    yield sink.take()


def _iif_chunks(company, plan: ExportPlan, mappings, held) -> Iterator[bytes]:
    names = iif_renderer.IifNames()
    encoding = iif_renderer.ENCODING
    ids = plan.invoice_ids
    customers = books_customers_of_invoices(company=company, invoice_ids=held, mappings=mappings)
    yield "".join(iif_renderer.customers_block(customers, names)).encode(encoding)
    items = books_items(company=company, invoice_ids=held, mappings=mappings)
    tax_codes = books_tax_codes(company=company, invoice_ids=held, mappings=mappings)
    yield "".join(iif_renderer.items_block(items, tax_codes, names)).encode(encoding)
    yield "".join(iif_renderer.transactions_header()).encode(encoding)
    buffer: list[str] = []
    for count, invoice in enumerate(books_invoices(company=company, invoice_ids=ids, mappings=mappings), start=1):
        buffer.extend(iif_renderer.invoice_block(invoice, names))
        if count % 100 == 0:
            yield "".join(buffer).encode(encoding)
            buffer = []
    yield "".join(buffer).encode(encoding)


def export_list(*, company, limit: int = 20):
    return QuickBooksExport.objects.filter(company=company).select_related("created_by")[:limit]


def export_get(*, company, export_id: int) -> QuickBooksExport:
    return get_object_or_404(QuickBooksExport, company=company, pk=export_id)
