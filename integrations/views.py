"""Settings → Integrations → QuickBooks pages, and Intuit's redirect target (the callback)."""

from __future__ import annotations

import logging

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET, require_POST

from attune_qbo.core.exceptions import ApplicationError
from attune_qbo.tenants.models import Role
from attune_qbo.tenants.views import company_required
from integrations.exceptions import CallbackIncomplete, ConnectionCancelled, InvalidState, SignInRequired
from integrations.models import ConnectionStatus
from integrations.services import connections

logger = logging.getLogger("qbo.views")

SETTINGS_PAGE = "integrations:quickbooks-settings"


def _wants_json(request) -> bool:
    accept = request.headers.get("Accept", "")
    return request.GET.get("format") == "json" or ("application/json" in accept and "text/html" not in accept)


CALLBACK_PARAMETERS = ("state", "code", "realmId", "error")


@require_GET
def quickbooks_callback(request):
    """Where Intuit sends the browser back: `?code&state&realmId`, or `?error=access_denied&state`.

    A parameter that comes twice (a forged `state` first and the real one last, say) is refused before the
    state is looked at, so the real owner's state stays usable (docs/decisions/0006)."""
    params = request.GET
    repeated = [name for name in CALLBACK_PARAMETERS if len(params.getlist(name)) > 1]
    if repeated:
        logger.warning("qbo.callback.repeated_parameter names=%s", ",".join(repeated))
        error = CallbackIncomplete(
            f"QuickBooks' answer carries {' and '.join(repeated)} more than once, so it was refused. "
            "Nothing was stored; start the connection again from Settings."
        )
        return _callback_error(request, error, status=400)
    try:
        result = connections.connection_complete(
            state=params.get("state", ""),
            session_key=request.session.session_key,
            code=params.get("code"),
            realm_id=params.get("realmId"),
            error=params.get("error"),
            user=request.user,
        )
    except SignInRequired as error:
        if _wants_json(request):
            return JsonResponse({"code": error.code, "message": error.message}, status=error.status_code)
        messages.info(request, error.message)
        return redirect_to_login(request.get_full_path())  # the state is still unused
    except InvalidState as error:
        logger.warning("qbo.callback.invalid_state reason=%s", error.reason)
        return _callback_error(request, error, status=400)
    except ApplicationError as error:  # cancelled, incomplete, exchange failed, realm refused or taken, keys
        if _wants_json(request):
            return JsonResponse({"code": error.code, "message": error.message}, status=error.status_code)
        level = messages.INFO if isinstance(error, ConnectionCancelled) else messages.ERROR
        messages.add_message(request, level, error.message)
        if isinstance(error, CallbackIncomplete):
            return _callback_error(request, error, status=400)
        return redirect(SETTINGS_PAGE)
    connection = result.connection
    name = connection.qbo_company_name or f"realm {connection.realm_id}"
    if result.realm_verified:
        text = f"{'Reconnected' if result.reconnected else 'Connected'} to QuickBooks ({name})."
        level = messages.SUCCESS
    else:
        # Never "Connected" for a realm we could not read: QuickBooks did not answer the CompanyInfo check.
        text = (
            f"QuickBooks signed you in, but company {connection.realm_id} could not be read yet (QuickBooks did "
            "not answer). The sign-in is saved and checked again automatically; invoices are sent once it reads."
        )
        level = messages.WARNING
    if result.superseded_not_revoked:
        text += (
            " The previous sign-in could not be revoked at Intuit: its tokens cannot be decrypted with the current "
            "keys (a key problem). Remove the old connection in QuickBooks' Apps page if it is still listed."
        )
        level = messages.WARNING
    if _wants_json(request):
        return JsonResponse(
            {
                "status": connection.status,
                "realm_id": connection.realm_id,
                "realm_verified": result.realm_verified,
                "message": text,
            }
        )
    messages.add_message(request, level, text)
    return redirect(SETTINGS_PAGE)


def _callback_error(request, error: ApplicationError, *, status: int):
    if _wants_json(request):
        return JsonResponse({"code": error.code, "message": error.message}, status=status)
    return render(request, "integrations/callback_error.html", {"message": error.message}, status=status)


@company_required()
def quickbooks_settings(request):
    report = connections.connection_status(company=request.company)
    return render(
        request,
        "integrations/quickbooks_settings.html",
        {"report": report, "is_admin": request.membership.has_role(Role.ADMIN)},
    )


@company_required()
def quickbooks_status_pill(request):
    """The live status pill (htmx polls it)."""
    report = connections.connection_status(company=request.company)
    return render(request, "integrations/_status_pill.html", {"report": report})


@require_POST
@company_required(Role.ADMIN)
def quickbooks_connect(request):
    if not request.session.session_key:
        request.session.save()
    try:
        url = connections.connection_start(
            company=request.company, user=request.user, session_key=request.session.session_key
        )
    except ApplicationError as error:
        messages.error(request, error.message)
        return redirect(SETTINGS_PAGE)
    return redirect(url)


@company_required(Role.ADMIN)
def quickbooks_disconnect(request):
    """GET asks for confirmation; POST disconnects."""
    if request.method != "POST":
        report = connections.connection_status(company=request.company)
        return render(request, "integrations/disconnect_confirm.html", {"report": report})
    try:
        result = connections.connection_disconnect(company=request.company, user=request.user)
    except ApplicationError as error:
        messages.error(request, error.message)
        return redirect(SETTINGS_PAGE)
    if result.warning:
        messages.warning(request, result.warning)
    else:
        messages.success(request, "Disconnected from QuickBooks. Access was revoked at Intuit.")
    return redirect(SETTINGS_PAGE)


def invoice_sync_panel(request, invoice) -> str:
    """The QuickBooks box on an invoice's page: last sync, an error banner when it failed, one-click retry."""
    from integrations import selectors

    connection = selectors.connection_for(company=request.company)
    if connection is None or (connection.status == ConnectionStatus.DISCONNECTED and not connection.realm_id):
        return ""
    entry = selectors.latest_invoice_sync(company=request.company, invoice_id=invoice.pk)
    return render_to_string(
        "integrations/_invoice_panel.html",
        {
            "entry": entry,
            "invoice": invoice,
            "connection": connection,
            "can_sync": request.membership.has_role(Role.STAFF) and connection.status == ConnectionStatus.CONNECTED,
        },
        request=request,
    )


@require_POST
@company_required(Role.STAFF)
def quickbooks_invoice_sync(request, invoice_id: int):
    """ "Retry" / "Send now" on the invoice page."""
    from attune_qbo.billing import selectors as billing_selectors
    from integrations import selectors
    from integrations.services import sync

    invoice = billing_selectors.invoice_get(company=request.company, pk=invoice_id)
    latest = selectors.latest_invoice_sync(company=request.company, invoice_id=invoice.pk)
    try:
        if latest is not None and latest.can_retry:
            sync.sync_retry(entry=latest, user=request.user)
        else:
            sync.sync_now(invoice=invoice, user=request.user)
        messages.success(request, f"Invoice {invoice.number} is queued for QuickBooks.")
    except ApplicationError as error:
        messages.error(request, error.message)
    return redirect("billing:invoice-detail", pk=invoice.pk)
