"""What the Settings page lists under "Integrations". Integrations register themselves here at app
start-up, so billing never imports them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.urls import NoReverseMatch, reverse


@dataclass(frozen=True)
class InvoiceListColumn:
    """A column an integration adds to the invoice list, with a filter on it (e.g. "QuickBooks: Failed")."""

    header: str
    param: str  # the filter's query parameter
    choices: Callable[[object], list[tuple[str, str]]]  # company -> filter choices; none: no column
    cells: Callable[[object, list[int]], dict[int, tuple[str, str]]]  # (company, invoice ids) -> {id: (text, css)}
    filter: Callable[[object, object, str], object]  # (company, invoices queryset, value) -> queryset


@dataclass(frozen=True)
class IntegrationEntry:
    name: str
    description: str
    url_name: str
    status: Callable[[object], str] | None = None  # company -> short status text
    invoice_panel: Callable[[object, object], str] | None = None  # (request, invoice) -> HTML for the invoice page
    invoice_list_column: InvoiceListColumn | None = None


_REGISTRY: list[IntegrationEntry] = []


def register(entry: IntegrationEntry) -> None:
    if all(existing.url_name != entry.url_name for existing in _REGISTRY):
        _REGISTRY.append(entry)


def available_integrations(request) -> list[dict]:
    rows = []
    for entry in _REGISTRY:
        try:
            url = reverse(entry.url_name)
        except NoReverseMatch:
            continue
        status = entry.status(request.company) if entry.status else ""
        rows.append({"name": entry.name, "description": entry.description, "url": url, "status": status})
    return rows


def invoice_panels(request, invoice) -> list[str]:
    """HTML panels the integrations add to an invoice's page (e.g. its QuickBooks sync status)."""
    return [entry.invoice_panel(request, invoice) for entry in _REGISTRY if entry.invoice_panel]


def invoice_list_columns(request, invoices):
    """The integrations' invoice-list columns for this company, with their filters applied to `invoices`.
    Returns (invoices, columns); each column is a dict with header, param, choices and the chosen value."""
    columns = []
    for entry in _REGISTRY:
        column = entry.invoice_list_column
        if column is None:
            continue
        choices = column.choices(request.company)
        if not choices:
            continue
        value = request.GET.get(column.param, "")
        if value in dict(choices):
            invoices = column.filter(request.company, invoices, value)
        else:
            value = ""
        columns.append(
            {"header": column.header, "param": column.param, "choices": choices, "value": value, "of": column}
        )
    return invoices, columns


def invoice_list_cells(request, columns, page) -> None:
    """Attach each column's cell to the invoices of one page (`invoice.integration_cells`, one query per column)."""
    page.object_list = invoices = list(page.object_list)
    ids = [invoice.pk for invoice in invoices]
    per_column = [column["of"].cells(request.company, ids) for column in columns]
    for invoice in invoices:
        invoice.integration_cells = [cells.get(invoice.pk, ("", "")) for cells in per_column]
