"""The Web Connector's SOAP endpoint and the Settings → Integrations → QuickBooks Desktop page. Thin: the
services in `services.py` do the work."""

from __future__ import annotations

import logging

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from attune_qbo.core.exceptions import ApplicationError
from attune_qbo.tenants.models import Role
from attune_qbo.tenants.views import company_required
from integrations.models import ConnectionStatus, QuickBooksConnection
from integrations.quickbooks.desktop import constants as c
from integrations.quickbooks.desktop import services
from integrations.quickbooks.desktop.exceptions import DesktopProtocolError
from integrations.quickbooks.desktop.soap import SoapCall, parse_call, render_fault, render_result, render_wsdl

logger = logging.getLogger("qbd.views")

PAGE = "integrations:quickbooks-desktop"
PASSWORD_SESSION_KEY = "qbd_password_once"
XML = "text/xml; charset=utf-8"


# --- the SOAP endpoint ---------------------------------------------------------------------------------


def _dispatch(call: SoapCall) -> str | int | list[str]:
    ticket = call.param("ticket")
    match call.method:
        case "serverVersion":
            return services.qbwc_server_version()
        case "clientVersion":
            return services.qbwc_client_version(call.param("strVersion"))
        case "authenticate":
            return services.qbwc_authenticate(username=call.param("strUserName"), password=call.param("strPassword"))
        case "sendRequestXML":
            return services.qbwc_send_request(
                ticket=ticket,
                company_file=call.param("strCompanyFileName"),
                major=call.int_param("qbXMLMajorVers"),
                minor=call.int_param("qbXMLMinorVers"),
            )
        case "receiveResponseXML":
            return services.qbwc_receive_response(
                ticket=ticket,
                response=call.param("response"),
                hresult=call.param("hresult"),
                message=call.param("message"),
            )
        case "connectionError":
            return services.qbwc_connection_error(
                ticket=ticket, hresult=call.param("hresult"), message=call.param("message")
            )
        case "getLastError":
            return services.qbwc_last_error(ticket=ticket)
        case "closeConnection":
            return services.qbwc_close(ticket=ticket)
    raise DesktopProtocolError(f"“{call.method}” is not a Web Connector method.", reason="unknown_method")


@csrf_exempt
@require_http_methods(["GET", "POST"])
def qbwc_endpoint(request):
    """The QBWC web service: GET (`?wsdl`) answers the WSDL, POST one SOAP call. Protocol errors are SOAP
    faults (HTTP 500, as SOAP 1.1 asks) with a message; nothing here ever needs a browser session."""
    if request.method == "GET":
        location = request.build_absolute_uri(request.path)
        return HttpResponse(render_wsdl(location), content_type=XML)
    # Read the stream ourselves: `request.body` refuses more than DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB), and a
    # month of payments read back from a busy company file can be more.
    body = request.read(c.MAX_SOAP_BYTES + 1)
    if len(body) > c.MAX_SOAP_BYTES:
        return HttpResponse(render_fault("The request is too large."), content_type=XML, status=413)
    try:
        call = parse_call(body)
        result = _dispatch(call)
    except DesktopProtocolError as error:
        logger.warning("qbd.soap.refused reason=%s", error.reason)
        return HttpResponse(render_fault(error.message), content_type=XML, status=500)
    return HttpResponse(render_result(call.method, result), content_type=XML)


# --- the settings page ---------------------------------------------------------------------------------


def _is(request, role) -> bool:
    return request.membership.has_role(role)


@company_required(Role.STAFF)
@require_GET
def desktop_settings(request):
    company = request.company
    connection = services.desktop_connection_for(company=company)
    online = QuickBooksConnection.objects.filter(
        company=company, status__in=[ConnectionStatus.CONNECTED, ConnectionStatus.NEEDS_RECONNECT]
    ).first()
    active = connection is not None and connection.is_active
    context = {
        "connection": connection,
        "active": active,
        "online": online,
        "is_admin": _is(request, Role.ADMIN),
        "password": request.session.pop(PASSWORD_SESSION_KEY, None) if _is(request, Role.ADMIN) else None,
        "app_url": request.build_absolute_uri(reverse("integrations:quickbooks-desktop-qbwc")),
        "entries": services.recent_entries(connection=connection) if connection else [],
        "waiting": services.pending_count(connection=connection) if active else 0,
        "not_sent": services.invoices_not_in_desktop(connection=connection).count() if active else 0,
        "last_session": connection.sessions.first() if connection else None,
    }
    return render(request, "integrations/desktop.html", context)


def _show_password_once(request, password: str) -> None:
    # Server-side session only (never a cookie or a message): popped by the next page view, so it shows once.
    request.session[PASSWORD_SESSION_KEY] = password


@company_required(Role.ADMIN)
@require_POST
def desktop_connect(request):
    def connect():
        _, password = services.desktop_connect(company=request.company, user=request.user)
        _show_password_once(request, password)

    return _act(
        request,
        connect,
        lambda _: "QuickBooks Desktop is connected. Download the .qwc file and note the password below.",
    )


def _act(request, action, success) -> HttpResponse:
    """Run a service for a page's button; its refusal (or `success(result)`) becomes a message on the page."""
    try:
        result = action()
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, success(result))
    return redirect(PAGE)


@company_required(Role.ADMIN)
@require_POST
def desktop_new_password(request):
    def new_password():
        password = services.desktop_new_password(company=request.company, user=request.user)
        _show_password_once(request, password)

    return _act(request, new_password, lambda _: "A new Web Connector password was made; the old one no longer works.")


@company_required(Role.ADMIN)
@require_POST
def desktop_disconnect(request):
    return _act(
        request,
        lambda: services.desktop_disconnect(company=request.company, user=request.user),
        lambda _: "QuickBooks Desktop is disconnected: the Web Connector is refused from now on.",
    )


@company_required(Role.ADMIN)
@require_POST
def desktop_send_all(request):
    return _act(
        request,
        lambda: services.desktop_send_all(company=request.company, user=request.user),
        lambda count: f"{count} invoice{'s' if count != 1 else ''} will go at the Web Connector's next run.",
    )


@company_required(Role.STAFF)
@require_POST
def desktop_retry(request, pk: int):
    return _act(
        request,
        lambda: services.desktop_retry(company=request.company, entry_id=pk, user=request.user),
        lambda _: "It goes again at the Web Connector's next run.",
    )


@company_required(Role.ADMIN)
@require_GET
def desktop_qwc(request):
    """The `.qwc` file for this company (no password in it)."""
    connection = services.desktop_active(company_id=request.company.pk)
    if connection is None:
        messages.error(request, "Connect QuickBooks Desktop first; the .qwc file belongs to a connection.")
        return redirect(PAGE)
    document = services.qwc_document(
        connection=connection,
        app_url=request.build_absolute_uri(reverse("integrations:quickbooks-desktop-qbwc")),
        support_url=request.build_absolute_uri(reverse(PAGE)),
    )
    response = HttpResponse(document, content_type="application/xml; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="attune-{request.company.pk}.qwc"'
    return response


# --- the mapping page ------------------------------------------------------------------------------------

MAPPING_PAGE = "integrations:quickbooks-desktop-mapping"


def _mapping_context(request, connection, form) -> dict:
    return {
        "connection": connection,
        "form": form,
        "blocked": services.blocked_by_names(connection=connection).count(),
        "is_admin": True,
    }


@company_required(Role.ADMIN)
@require_http_methods(["GET", "POST"])
def desktop_mapping(request):
    """Products → Desktop item names, tax rates → sales tax item and code names, the income account name."""
    from integrations.quickbooks.desktop.forms import DesktopMappingForm

    connection = services.desktop_active(company_id=request.company.pk)
    if connection is None:
        messages.error(request, "Connect QuickBooks Desktop first; the names belong to its company file.")
        return redirect(PAGE)
    if request.method == "GET":
        form = DesktopMappingForm(connection=connection)
        return render(request, "integrations/desktop_mapping.html", _mapping_context(request, connection, form))
    form = DesktopMappingForm(connection=connection, data=request.POST)
    changes = form.changes()
    if changes is None:
        if not form.non_field_errors:
            form.non_field_errors.append("Nothing was saved: fix the marked names.")
        context = _mapping_context(request, connection, form)
        return render(request, "integrations/desktop_mapping.html", context, status=400)
    try:
        saved, cleared = services.desktop_mappings_save(company=request.company, changes=changes, user=request.user)
    except ApplicationError as error:
        form.non_field_errors.append(error.message)
        context = _mapping_context(request, connection, form)
        return render(request, "integrations/desktop_mapping.html", context, status=400)
    text = f"Saved {saved} name{'s' if saved != 1 else ''}"
    text += f", cleared {cleared}." if cleared else "."
    messages.success(request, text + " Invoices sent from now on use them.")
    return redirect(MAPPING_PAGE)


@company_required(Role.ADMIN)
@require_GET
def desktop_mapping_suggestions(request):
    """htmx: the <option>s of one row's name suggestions, narrowed by what was typed."""
    from django.http import Http404

    from integrations.quickbooks.desktop.forms import DesktopMappingForm

    connection = services.desktop_active(company_id=request.company.pk)
    name = request.GET.get("field", "")
    form = DesktopMappingForm(connection=connection) if connection else None
    row = form.row(name) if form else None
    if row is None:
        raise Http404("No such row.")
    names = form.suggestions(row, request.GET.get(name, ""))
    return render(request, "integrations/_desktop_suggestions.html", {"names": names})


@company_required(Role.ADMIN)
@require_POST
def desktop_mapping_retry_blocked(request):
    def retry():
        return services.desktop_retry_blocked(company=request.company, user=request.user)

    try:
        count = retry()
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"{count} entr{'ies' if count != 1 else 'y'} will go again at the next run.")
    return redirect(MAPPING_PAGE)
