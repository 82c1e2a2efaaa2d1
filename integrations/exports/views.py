"""Settings → Integrations → QuickBooks → Exports: invoices as a CSV for QuickBooks Online's import or an IIF
file for QuickBooks Desktop. Works with or without a QuickBooks Online connection.

Progress: the page counts what an export will hold (invoices, lines, files, total, size) before the download
starts; the download is then streamed as it is written, so the browser's download bar moves from the first
invoice on and memory stays flat whatever the range (see docs/developer/books-document.md).
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from attune_qbo.core.exceptions import ApplicationError
from attune_qbo.tenants.models import Role
from attune_qbo.tenants.views import company_required
from integrations.exports import csv_renderer, services
from integrations.exports.forms import ExportForm
from integrations.exports.http import download_response

EXPORTS_PAGE = "integrations:quickbooks-exports"
# Rough bytes per exported line, for the size shown before a download (measured on the demo company).
BYTES_PER_LINE = {"csv": 170, "iif": 190}


def _default_date_format(request) -> str:
    return csv_renderer.default_date_format(request.company.country)


def _back(form_data) -> str:
    fields = ("format", "date_from", "date_to", "status", "only_new", "date_format")
    query = {name: form_data.get(name) for name in fields if form_data.get(name)}
    return reverse(EXPORTS_PAGE) + ("?" + urlencode(query) if query else "")


@require_GET
@company_required(Role.STAFF)
def quickbooks_exports(request):
    """The export form; once filled in, what the export will hold, with the download buttons."""
    from integrations import selectors

    bound = bool(request.GET.get("format"))
    form = ExportForm(request.GET if bound else None, initial={"date_format": _default_date_format(request)})
    plan, empty = None, ""
    if bound and form.is_valid():
        try:
            plan = services.export_plan(
                company=request.company,
                request=form.export_request(default_date_format=_default_date_format(request)),
            )
        except ApplicationError as error:
            empty = error.message
    connection = selectors.connection_for(company=request.company)
    return render(
        request,
        "integrations/exports.html",
        {
            "form": form,
            "plan": plan,
            "empty": empty,
            "estimate_kb": (plan.line_count * BYTES_PER_LINE[plan.request.format]) // 1024 + 1 if plan else 0,
            "query": request.GET.urlencode() if plan else "",
            "recent": services.export_list(company=request.company),
            "show_nav": bool(connection and connection.realm_id),
            "is_admin": request.membership.has_role(Role.ADMIN),
            "max_invoices": csv_renderer.MAX_INVOICES_PER_FILE,
            "max_rows": csv_renderer.MAX_ROWS_PER_FILE,
        },
    )


def _stream_or_back(request, data, start):
    """Parse the choices in `data`, run `start(export_request)` → (export id or None, download) and stream it;
    bad choices or nothing to export go back to the page with the reason."""
    form = ExportForm(data)
    if not form.is_valid():
        messages.error(request, " ".join(error for errors in form.errors.values() for error in errors))
        return redirect(_back(data))
    try:
        export_id, download = start(form.export_request(default_date_format=_default_date_format(request)))
    except ApplicationError as error:
        messages.info(request, error.message)
        return redirect(_back(data))
    return download_response(download, export_id=export_id)


@require_POST
@company_required(Role.STAFF)
def quickbooks_exports_download(request):
    """Record the export and stream its file; the page stays where it is."""

    def start(wanted):
        export, download = services.export_start(company=request.company, user=request.user, request=wanted)
        return export.pk, download

    return _stream_or_back(request, request.POST, start)


@require_GET
@company_required(Role.STAFF)
def quickbooks_exports_customers(request):
    """The customers CSV for the selection (QuickBooks Online needs the customers before their invoices)."""
    return _stream_or_back(
        request,
        request.GET,
        lambda wanted: (None, services.customers_download(company=request.company, request=wanted)),
    )


@require_GET
@company_required(Role.STAFF)
def quickbooks_export_again(request, export_id: int):
    """An earlier export's invoices again, as they are now (another company's export is a 404)."""
    try:
        download = services.export_again(company=request.company, export_id=export_id)
    except services.NothingToExport as error:
        messages.info(request, error.message)
        return redirect(EXPORTS_PAGE)
    return download_response(download)
