"""Settings → Integrations → QuickBooks pages, and Intuit's redirect target (the callback)."""

from __future__ import annotations

import logging

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from attune_qbo.core.exceptions import ApplicationError
from attune_qbo.tenants.models import Role
from attune_qbo.tenants.views import company_required
from integrations.exceptions import (
    CallbackIncomplete,
    ConnectionCancelled,
    InvalidState,
    QuickBooksError,
    SignInRequired,
)
from integrations.models import ConnectionStatus
from integrations.services import connections
from integrations.services.usage import connection_usage

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


def _is(request, role) -> bool:
    return request.membership.has_role(role)


def _connection_or_redirect(request):
    """The company's connected (or waiting-to-reconnect) connection; None (with a message) when there is none."""
    from integrations import selectors

    connection = selectors.connection_for(company=request.company)
    if connection is None or not connection.realm_id or connection.status == ConnectionStatus.DISCONNECTED:
        messages.info(request, "Connect QuickBooks first.")
        return None
    return connection


def _chart(days: list[dict]) -> dict:
    """Bars for the 30-day chart, in SVG units (server-rendered, no JavaScript)."""
    height, bar, gap = 60, 9, 3
    peak = max([day["ok"] + day["bad"] for day in days] + [1])
    bars = []
    for i, day in enumerate(days):
        ok_h = round(day["ok"] / peak * height, 1)
        bad_h = round(day["bad"] / peak * height, 1)
        bars.append(
            {
                "x": i * (bar + gap),
                "day": day["day"],
                "ok": day["ok"],
                "bad": day["bad"],
                "ok_y": height - ok_h,
                "ok_h": ok_h,
                "bad_y": height - ok_h - bad_h,
                "bad_h": bad_h,
            }
        )
    return {
        "bars": bars,
        "width": len(days) * (bar + gap),
        "height": height,
        "bar": bar,
        "peak": peak,
        "total_ok": sum(d["ok"] for d in days),
        "total_bad": sum(d["bad"] for d in days),
    }


@company_required()
def quickbooks_settings(request):
    from integrations import selectors
    from integrations.forms import InitialSyncForm

    report = selectors.page_status(company=request.company)
    connection = selectors.connection_for(company=request.company)
    is_staff, is_admin = _is(request, Role.STAFF), _is(request, Role.ADMIN)
    context = {"report": report, "is_admin": is_admin, "is_staff": is_staff, "connection": connection}
    if is_staff and connection is not None and connection.realm_id:
        context["health"] = selectors.health(company=request.company)
        context["show_chart"] = True  # loaded after the page (htmx), or opened as its own page without JavaScript
        context["usage"] = connection_usage(connection=connection)  # one query: the realm's count this month
    if is_admin and connection is not None and connection.is_connected:
        context["initial_sync_form"] = InitialSyncForm(
            initial={"initial_sync": connection.initial_sync, "initial_sync_since": connection.initial_sync_since}
        )
        context["choices_read_at"] = selectors.choices_read_at(connection=connection)
        context["adoption_prompt"] = _adoption_prompt(connection)
    if is_staff and connection is not None and connection.is_connected:
        context["backfill"] = _backfill_context(request.company, connection)
    return render(request, "integrations/quickbooks_settings.html", context)


def _adoption_prompt(connection) -> dict | None:
    """Shown prominently after connecting: until the adoption page was checked once, or while matches wait."""
    from integrations.models import ReviewKind
    from integrations.services.adoption import latest_review, open_candidates

    review = latest_review(connection=connection, kind=ReviewKind.ADOPTION)
    if review is None:
        return {"waiting": 0}
    waiting = len(open_candidates(connection=connection, review=review))
    return {"waiting": waiting} if waiting else None


@company_required()
def quickbooks_status_pill(request):
    """The live status pill (htmx polls it). Amber for staff when something failed, died or drifted lately."""
    from integrations import selectors

    report = selectors.page_status(company=request.company)
    health = selectors.health(company=request.company) if _is(request, Role.STAFF) else None
    return render(request, "integrations/_status_pill.html", {"report": report, "health": health})


@require_GET
@company_required(Role.STAFF)
def quickbooks_chart(request):
    """Pushes per day for 30 days (server-rendered SVG): a fragment for htmx, a page of its own otherwise."""
    from integrations import selectors

    chart = _chart(selectors.daily_outcomes(company=request.company))
    template = "integrations/_chart.html" if request.htmx else "integrations/chart.html"
    return render(request, template, {"chart": chart})


@require_POST
@company_required(Role.ADMIN)
def quickbooks_refresh_company(request):
    """ "Refresh company settings": re-read CompanyInfo and Preferences (name, country, sales tax mode)."""
    connection = _connection_or_redirect(request)
    if connection is not None:
        if connections.connection_fetch_company_info(connection_id=connection.pk):
            messages.success(request, "Company settings read again from QuickBooks.")
        else:
            messages.error(request, "QuickBooks did not answer; the settings shown are the last ones read.")
    return redirect(SETTINGS_PAGE)


@require_POST
@company_required(Role.ADMIN)
def quickbooks_send_never_sent(request):
    from integrations.outbox import enqueue as sync

    connection = _connection_or_redirect(request)
    if connection is not None:
        try:
            count = sync.sync_send_never_sent(connection=connection, user=request.user)
        except ApplicationError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, f"{count} invoice{'s' if count != 1 else ''} queued for QuickBooks.")
    return redirect(SETTINGS_PAGE)


@require_POST
@company_required(Role.ADMIN)
def quickbooks_initial_sync(request):
    from integrations.forms import InitialSyncForm
    from integrations.services.preferences import connection_set_initial_sync

    connection = _connection_or_redirect(request)
    if connection is None:
        return redirect(SETTINGS_PAGE)
    form = InitialSyncForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return redirect(SETTINGS_PAGE)
    try:
        queued = connection_set_initial_sync(
            connection=connection,
            initial_sync=form.cleaned_data["initial_sync"],
            since=form.cleaned_data.get("initial_sync_since"),
            user=request.user,
        )
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request,
            "Saved." + (f" {queued} invoice{'s' if queued != 1 else ''} queued for QuickBooks." if queued else ""),
        )
    return redirect(SETTINGS_PAGE)


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


# --- the invoice page's QuickBooks box --------------------------------------------------------------------


def qbo_invoice_url(connection, qbo_id: str) -> str:
    """Where a person sees this invoice in QuickBooks (or in the simulator's pages, locally)."""
    from django.urls import NoReverseMatch, reverse

    if not qbo_id or connection is None:
        return ""
    environment = connection.environment
    if environment == "production":
        return f"https://app.qbo.intuit.com/app/invoice?txnId={qbo_id}"
    if environment == "sandbox":
        return f"https://app.sandbox.qbo.intuit.com/app/invoice?txnId={qbo_id}"
    try:
        return reverse("simulator:company-section", args=[connection.realm_id, "invoices"]) + f"#invoice-{qbo_id}"
    except NoReverseMatch:
        return ""


def _panel_context(request, invoice) -> dict | None:
    from integrations import selectors
    from integrations.models import LinkType, QuickBooksLink, SyncStatus

    connection = selectors.connection_for(company=request.company)
    if connection is None or (connection.status == ConnectionStatus.DISCONNECTED and not connection.realm_id):
        return None
    is_staff = _is(request, Role.STAFF)
    entry = selectors.latest_invoice_sync(company=request.company, invoice_id=invoice.pk)
    link = QuickBooksLink.objects.filter(
        company=request.company, realm_id=connection.realm_id, object_type=LinkType.INVOICE, object_id=invoice.pk
    ).first()
    qbo_id = (link.qbo_id if link else "") or (entry.qbo_id if entry else "")
    live = entry is not None and entry.status in (SyncStatus.PENDING, SyncStatus.RUNNING)
    failed = entry is not None and entry.status in (SyncStatus.FAILED, SyncStatus.DEAD)
    connected = connection.status == ConnectionStatus.CONNECTED
    void_done = invoice.status == "void" and (link is None or link.voided) and not live
    can_act = is_staff and connected and invoice.status != "draft"
    # Nothing to send: QuickBooks got this very version (the link remembers which one it was).
    current = (
        entry is not None
        and entry.status in (SyncStatus.SUCCEEDED, SyncStatus.UP_TO_DATE)
        and link is not None
        and link.source_updated_at is not None
        and link.source_updated_at == invoice.updated_at
    )
    return {
        "entry": entry if is_staff else None,
        "member_status": entry.get_status_display() if entry and not is_staff else "",
        "invoice": invoice,
        "connection": connection,
        "is_staff": is_staff,
        "live": live,
        "failed": failed,
        "qbo_id": qbo_id,
        "qbo_url": qbo_invoice_url(connection, qbo_id) if is_staff else "",
        "can_retry": can_act
        and entry is not None
        and entry.status in (SyncStatus.FAILED, SyncStatus.DEAD, SyncStatus.DRIFT),
        "can_send": can_act
        and not void_done
        and not current
        and not (entry is not None and entry.status == SyncStatus.RUNNING),
        "waiting_retry": live and entry.status == SyncStatus.PENDING and entry.attempts > 0,
    }


def invoice_sync_panel(request, invoice) -> str:
    """The QuickBooks box on an invoice's page: status, the failure once, drift, Send now / Retry."""
    context = _panel_context(request, invoice)
    if context is None:
        return ""
    return render_to_string("integrations/_invoice_panel.html", context, request=request)


@require_GET
@company_required()
def quickbooks_invoice_panel(request, invoice_id: int):
    """The box again, for htmx polling while a push is pending (the polling stops once it is done)."""
    from django.http import HttpResponse

    from attune_qbo.billing import selectors as billing_selectors

    invoice = billing_selectors.invoice_get(company=request.company, pk=invoice_id)
    return HttpResponse(invoice_sync_panel(request, invoice))


@require_POST
@company_required(Role.STAFF)
def quickbooks_invoice_sync(request, invoice_id: int):
    """ "Retry" / "Send now" on the invoice page: retry a failure, else queue an immediate push (during a back-off
    wait this moves the waiting entry to now: one entry, never two)."""
    from attune_qbo.billing import selectors as billing_selectors
    from integrations import selectors
    from integrations.models import SyncStatus
    from integrations.outbox import enqueue as sync
    from integrations.services.retry import sync_retry

    invoice = billing_selectors.invoice_get(company=request.company, pk=invoice_id)
    latest = selectors.latest_invoice_sync(company=request.company, invoice_id=invoice.pk)
    try:
        if latest is not None and latest.status in (SyncStatus.FAILED, SyncStatus.DEAD, SyncStatus.DRIFT):
            result = sync_retry(entry=latest, user=request.user)
            (messages.success if result.accepted else messages.warning)(request, result.message)
        else:
            sync.sync_now(invoice=invoice, user=request.user)
            messages.success(request, f"Invoice {invoice.number} is being sent to QuickBooks.")
    except ApplicationError as error:
        messages.error(request, error.message)
    return redirect("billing:invoice-detail", pk=invoice.pk)


# --- mapping ----------------------------------------------------------------------------------------------

MAPPING_PAGE = "integrations:quickbooks-mapping"


def _mapping_context(request, connection, form, item_form=None) -> dict:
    from integrations import selectors
    from integrations.forms import ItemCreateForm
    from integrations.services.choices import blocked_by_mappings

    return {
        "connection": connection,
        "form": form,
        "item_form": item_form or ItemCreateForm(connection=connection),
        "read_at": selectors.choices_read_at(connection=connection),
        "income_accounts": selectors.choices_search(
            connection=connection, entity="Account", limit=200, details=("Income", "Other Income")
        ),
        "products": [row for row in form.rows if row.kind == "item" and row.local_key != "default"],
        "income_default": next(
            (row.current.qbo_id for row in form.rows if row.kind == "income_account" and row.current), ""
        ),
        "blocked": blocked_by_mappings(connection=connection).count(),
        "is_us": (connection.tax_style or "us") == "us",
    }


@company_required(Role.ADMIN)
def quickbooks_mapping(request):
    """Products → Items, tax rates → tax codes, payment methods, deposit and income accounts."""
    from integrations import selectors
    from integrations.forms import MappingForm
    from integrations.services.choices import choices_refresh, mappings_save

    connection = _connection_or_redirect(request)
    if connection is None:
        return redirect(SETTINGS_PAGE)
    if request.method == "POST":
        form = MappingForm(connection=connection, data=request.POST)
        if request.POST.get("search"):  # "Search" pressed without JavaScript: show that row's matches
            return render(request, "integrations/mapping.html", _mapping_context(request, connection, form))
        changes = form.changes()
        if changes is None:
            messages.error(request, "Nothing was saved: fix the marked rows.")
            return render(request, "integrations/mapping.html", _mapping_context(request, connection, form), status=400)
        try:
            report = mappings_save(connection=connection, changes=changes, user=request.user)
        except ApplicationError as error:
            form.non_field_errors.append(error.message)
            return render(request, "integrations/mapping.html", _mapping_context(request, connection, form), status=400)
        text = f"Saved {report.saved} mapping{'s' if report.saved != 1 else ''}"
        text += f", cleared {report.cleared}." if report.cleared else "."
        if report.unblocked:
            text += (
                f" {report.unblocked} failed push{'es' if report.unblocked != 1 else ''} waited on mappings: "
                "retry them below."
            )
        messages.success(request, text)
        return redirect(MAPPING_PAGE)
    if connection.is_connected and selectors.choices_read_at(connection=connection) is None:
        try:  # first visit: read QuickBooks' lists once, so the page has something to offer
            choices_refresh(connection=connection)
        except (QuickBooksError, ApplicationError):  # the page still works; the refresh button says what went wrong
            logger.warning("qbo.mapping.first_read_failed company=%s", request.company.pk)
    form = MappingForm(connection=connection)
    return render(request, "integrations/mapping.html", _mapping_context(request, connection, form))


@require_GET
@company_required(Role.ADMIN)
def quickbooks_mapping_options(request):
    """htmx: the <option>s of one row's select, narrowed by what was typed in its search box."""
    from django.http import Http404

    from integrations.forms import MappingForm

    connection = _connection_or_redirect(request)
    name = request.GET.get("field", "")
    form = MappingForm(connection=connection) if connection else None
    row = form.row(name) if form else None
    if row is None:
        raise Http404("No such row.")
    selected = request.GET.get(name, row.value)
    row.value = selected
    options = form.options_for(row, q=request.GET.get(f"q_{name}", ""))
    return render(request, "integrations/_mapping_options.html", {"row": row, "options": options})


@require_POST
@company_required(Role.ADMIN)
def quickbooks_mapping_refresh(request):
    from integrations.services.choices import choices_refresh

    connection = _connection_or_redirect(request)
    if connection is None:
        return redirect(SETTINGS_PAGE)
    try:
        report = choices_refresh(connection=connection)
    except (ApplicationError, Exception) as error:  # noqa: BLE001
        logger.warning("qbo.mapping.refresh_failed company=%s error=%s", request.company.pk, type(error).__name__)
        messages.error(request, "QuickBooks did not answer; the lists shown are the last ones read. Try again.")
    else:
        counts = ", ".join(f"{n} {entity}{'s' if n != 1 else ''}" for entity, n in report.counts.items())
        text = f"Read from QuickBooks: {counts}."
        if report.unavailable:
            text += f" QuickBooks did not list: {', '.join(report.unavailable)}."
        messages.success(request, text)
    return redirect(MAPPING_PAGE)


@require_POST
@company_required(Role.ADMIN)
def quickbooks_mapping_create_item(request):
    from integrations.forms import ItemCreateForm, MappingForm
    from integrations.services.choices import MappingChange, item_create, mappings_save

    connection = _connection_or_redirect(request)
    if connection is None:
        return redirect(SETTINGS_PAGE)
    item_form = ItemCreateForm(request.POST, connection=connection)
    if item_form.is_valid():
        try:
            choice = item_create(
                connection=connection,
                name=item_form.cleaned_data["name"],
                income_account_id=item_form.cleaned_data["income_account"],
                user=request.user,
            )
            product = item_form.cleaned_data.get("product")
            changes = [MappingChange(kind="item", local_key=product, qbo_id=choice.qbo_id)] if product else []
            if not any(row.kind == "income_account" and row.current for row in MappingForm(connection=connection).rows):
                # The first item created from here also sets the income account for the next ones.
                changes.append(
                    MappingChange(
                        kind="income_account", local_key="default", qbo_id=item_form.cleaned_data["income_account"]
                    )
                )
            if changes:
                mappings_save(connection=connection, changes=changes, user=request.user)
        except ApplicationError as error:
            item_form.add_error(None, error.message)
        else:
            messages.success(
                request,
                f"Created item “{choice.name}” in QuickBooks" + (" and mapped it." if product else "."),
            )
            return redirect(MAPPING_PAGE)
    form = MappingForm(connection=connection)
    return render(
        request, "integrations/mapping.html", _mapping_context(request, connection, form, item_form), status=400
    )


@require_POST
@company_required(Role.ADMIN)
def quickbooks_mapping_retry_blocked(request):
    from integrations.services.choices import blocked_by_mappings
    from integrations.services.retry import sync_retry_many

    connection = _connection_or_redirect(request)
    if connection is None:
        return redirect(SETTINGS_PAGE)
    counts = sync_retry_many(entries=list(blocked_by_mappings(connection=connection)[:500]), user=request.user)
    queued = counts["queued"] + counts["moved_up"]
    messages.success(request, f"{queued} push{'es' if queued != 1 else ''} queued to retry.")
    return redirect(MAPPING_PAGE)


# --- activity ---------------------------------------------------------------------------------------------

ACTIVITY_PAGE = "integrations:quickbooks-activity"
ACTIVITY_PAGE_SIZE = 50
RETRY_ALL_LIMIT = 100  # "Retry all failed" sends at most this many per press (and counts no further)


def next_step(entry, connection) -> dict:
    """The plain-words next step for a failed, dead or drifted entry (where to go to fix it)."""
    from django.urls import reverse

    code = entry.error_code or ""
    if entry.status == "drift":
        return {"kind": "drift"}
    if (
        connection is not None
        and connection.status == ConnectionStatus.NEEDS_RECONNECT
        or "reconnect" in (entry.message or "").lower()
    ):
        return {"kind": "reconnect", "url": reverse(SETTINGS_PAGE), "label": "Reconnect QuickBooks"}
    if code in ("mapping_incomplete", "610"):
        return {"kind": "mapping", "url": reverse(MAPPING_PAGE), "label": "Open the mapping"}
    if code == "6140":
        url = qbo_invoice_url(connection, entry.qbo_id) if entry.qbo_id else ""
        if not url and connection is not None:
            if connection.environment == "production":
                url = "https://app.qbo.intuit.com/app/invoices"
            elif connection.environment == "sandbox":
                url = "https://app.sandbox.qbo.intuit.com/app/invoices"
            else:
                url = qbo_invoice_url(connection, "x").split("#")[0]
        return {"kind": "duplicate", "url": url, "label": "Find it in QuickBooks"}
    if entry.status in ("failed", "dead"):
        return {"kind": "retry"}
    return {}


@company_required(Role.STAFF)
def quickbooks_activity(request):
    """The sync log, newest first, filterable and paginated (fast with 100,000 rows: see bench/pages.py). The
    count stops at 10,000 rows (filters narrow further)."""
    from attune_qbo.core.pagination import BoundedPaginator
    from integrations import selectors
    from integrations.forms import ActivityFilterForm

    filters = ActivityFilterForm(request.GET or None)
    criteria = filters.cleaned_data if filters.is_valid() else {}
    entries = selectors.activity_list(
        company=request.company,
        status=criteria.get("status") or None,
        entity_type=criteria.get("entity") or None,
        number=criteria.get("number") or None,
        date_from=criteria.get("date_from"),
        date_to=criteria.get("date_to"),
        error_code=criteria.get("code") or None,
    ).select_related("triggered_by")
    page = BoundedPaginator(entries, ACTIVITY_PAGE_SIZE).get_page(request.GET.get("page"))
    connection = selectors.connection_for(company=request.company)
    rows = [
        {
            "entry": entry,
            "qbo_url": qbo_invoice_url(connection, entry.qbo_id),
            "next": next_step(entry, connection) if entry.status in ("failed", "dead", "drift") else {},
            "can_retry": entry.status in ("failed", "dead", "drift")
            or entry.status == "pending"
            and entry.attempts > 0,
        }
        for entry in page
    ]
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "integrations/activity.html",
        {
            "page": page,
            "rows": rows,
            "filters": filters,
            "query": query.urlencode(),
            "groups": selectors.error_groups(
                company=request.company, since=timezone.now() - timezone.timedelta(days=selectors.RETRY_ALL_DAYS)
            ),
            "retryable": selectors.retryable_failures(company=request.company)[: RETRY_ALL_LIMIT + 1].count(),
            "retry_all_limit": RETRY_ALL_LIMIT,
            "connection": connection,
            "is_admin": _is(request, Role.ADMIN),
        },
    )


@require_POST
@company_required(Role.STAFF)
def quickbooks_activity_retry(request, pk: int):
    from integrations import selectors
    from integrations.services.retry import sync_retry

    entry = selectors.sync_log_get(company=request.company, pk=pk)  # another company's entry: 404
    result = sync_retry(entry=entry, user=request.user)
    (messages.success if result.accepted else messages.warning)(request, result.message)
    return redirect(_back(request, ACTIVITY_PAGE))


@require_POST
@company_required(Role.STAFF)
def quickbooks_activity_retry_failed(request):
    from integrations import selectors
    from integrations.services.retry import sync_retry_many

    entries = list(selectors.retryable_failures(company=request.company)[:RETRY_ALL_LIMIT])
    counts = sync_retry_many(entries=entries, user=request.user)
    queued = counts["queued"] + counts["moved_up"]
    messages.success(request, f"{queued} failed sync{'s' if queued != 1 else ''} queued to retry.")
    return redirect(_back(request, ACTIVITY_PAGE))


def _back(request, default: str) -> str:
    from django.urls import reverse
    from django.utils.http import url_has_allowed_host_and_scheme

    target = request.POST.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return reverse(default)


# --- adoption -------------------------------------------------------------------------------------------------

ADOPTION_PAGE = "integrations:quickbooks-adoption"
ADOPTION_PAGE_SIZE = 25


@company_required(Role.STAFF)
def quickbooks_adoption(request):
    """What QuickBooks already holds that matches ours (from the last check: reads are metered), with Link /
    Create / Skip per row for admins. Works as one plain form; htmx swaps only the list."""
    from django.core.paginator import Paginator

    from integrations.forms import AdoptionPolicyForm
    from integrations.models import ReviewKind
    from integrations.services.adoption import latest_review, open_candidates

    connection = _connection_or_redirect(request)
    if connection is None:
        return redirect(SETTINGS_PAGE)
    review = latest_review(connection=connection, kind=ReviewKind.ADOPTION)
    rows = open_candidates(connection=connection, review=review)
    page = Paginator(rows, ADOPTION_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "connection": connection,
        "review": review,
        "page": page,
        "rows": page.object_list,
        "agreeing": sum(row["state"] == "agrees" for row in rows),
        "is_admin": _is(request, Role.ADMIN),
        "policy_form": AdoptionPolicyForm(initial={"policy": connection.adoption_policy}),
    }
    return render(request, "integrations/adoption.html", context)


@require_POST
@company_required(Role.ADMIN)
def quickbooks_adoption_check(request):
    """ "Check now": read QuickBooks' customers and invoices once and store the matches."""
    from integrations.services.adoption import adoption_check

    connection = _connection_or_redirect(request)
    if connection is None:
        return redirect(SETTINGS_PAGE)
    try:
        review = adoption_check(connection=connection, user=request.user)
    except ApplicationError as error:
        messages.error(request, error.message)
    except QuickBooksError as error:  # QuickBooks did not answer: the last result stays
        logger.warning("qbo.adoption.check_failed company=%s error=%s", request.company.pk, type(error).__name__)
        messages.error(request, "QuickBooks did not answer; the matches shown are from the last check.")
    else:
        messages.success(
            request,
            f"Checked QuickBooks: {len(review.rows)} possible match{'es' if len(review.rows) != 1 else ''} "
            f"({review.reads} read{'s' if review.reads != 1 else ''}).",
        )
    return redirect(ADOPTION_PAGE)


@require_POST
@company_required(Role.ADMIN)
def quickbooks_adoption_apply(request):
    """One row's Link / Create / Skip (`decide=<kind>:<our id>:<action>:<QuickBooks id>`), or "Link all that
    agree" (`bulk=link_agreeing`)."""
    from integrations.models import ReviewKind
    from integrations.services.adoption import adoption_apply, latest_review, open_candidates

    connection = _connection_or_redirect(request)
    if connection is None:
        return redirect(SETTINGS_PAGE)
    if request.POST.get("bulk") == "link_agreeing":
        review = latest_review(connection=connection, kind=ReviewKind.ADOPTION)
        decisions = [
            (row["kind"], row["our_id"], "link", row["qbo_id"])
            for row in open_candidates(connection=connection, review=review)
            if row["state"] == "agrees"
        ]
    else:
        parts = request.POST.get("decide", "").split(":")
        if len(parts) != 4:
            messages.error(request, "Choose Link, Create or Skip on a row.")
            return redirect(ADOPTION_PAGE)
        decisions = [tuple(parts)]
    try:
        report = adoption_apply(connection=connection, decisions=decisions, user=request.user)
    except ApplicationError as error:
        messages.error(request, f"Nothing was changed: {error.message}")
    else:
        done = []
        if report.linked:
            done.append(f"linked {report.linked}")
        if report.queued:
            done.append(f"queued {report.queued} to create in QuickBooks")
        if report.skipped:
            done.append(f"skipped {report.skipped}")
        messages.success(request, (", ".join(done) or "Nothing to do").capitalize() + ".")
    return redirect(_back(request, ADOPTION_PAGE))


@require_POST
@company_required(Role.ADMIN)
def quickbooks_adoption_policy(request):
    from integrations.forms import AdoptionPolicyForm
    from integrations.services.adoption import adoption_policy_set

    connection = _connection_or_redirect(request)
    if connection is None:
        return redirect(SETTINGS_PAGE)
    form = AdoptionPolicyForm(request.POST)
    if form.is_valid():
        adoption_policy_set(connection=connection, policy=form.cleaned_data["policy"], user=request.user)
        messages.success(request, f"Saved: {connection.get_adoption_policy_display()}.")
    else:
        messages.error(request, "Pick one of the adoption policies.")
    return redirect(_back(request, ADOPTION_PAGE))


# --- reconciliation -------------------------------------------------------------------------------------------

RECONCILIATION_PAGE = "integrations:quickbooks-reconciliation"
RECONCILIATION_PAGE_SIZE = 50


@company_required(Role.STAFF)
def quickbooks_reconciliation(request):
    """Our invoices against QuickBooks', from the last check (QuickBooks is read only on "Check now")."""
    from django.core.paginator import Paginator

    from integrations.services.reconciliation import FIX_LABELS, KIND_LABELS, latest_reconciliation, payments_available

    connection = _connection_or_redirect(request)
    if connection is None:
        return redirect(SETTINGS_PAGE)
    review = latest_reconciliation(company=request.company)
    rows = [
        {
            **row,
            "index": i,
            "kind_label": KIND_LABELS.get(row["kind"], row["kind"]),
            "fix_label": FIX_LABELS.get(row.get("fix") or "", ""),
            "qbo_url": qbo_invoice_url(connection, row["qbo_id"]) if row["kind"] != "unapplied_payment" else "",
        }
        for i, row in enumerate(review.rows if review else [])
    ]
    page = Paginator(rows, RECONCILIATION_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "integrations/reconciliation.html",
        {
            "connection": connection,
            "review": review,
            "page": page,
            "rows": page.object_list,
            "is_admin": _is(request, Role.ADMIN),
            "payments_available": payments_available(),
        },
    )


@require_POST
@company_required(Role.ADMIN)
def quickbooks_reconciliation_check(request):
    from integrations.services.reconciliation import reconciliation_check

    connection = _connection_or_redirect(request)
    if connection is None:
        return redirect(SETTINGS_PAGE)
    try:
        review = reconciliation_check(connection=connection, user=request.user)
    except ApplicationError as error:
        messages.error(request, error.message)
    except QuickBooksError as error:  # QuickBooks did not answer: the last result stays
        logger.warning("qbo.reconciliation.check_failed company=%s error=%s", request.company.pk, type(error).__name__)
        messages.error(request, "QuickBooks did not answer; the results shown are from the last check.")
    else:
        found = len(review.rows)
        messages.success(
            request,
            (f"{found} difference{'s' if found != 1 else ''} found" if found else "The books agree")
            + f" ({review.reads} QuickBooks read{'s' if review.reads != 1 else ''} used).",
        )
    return redirect(RECONCILIATION_PAGE)


@require_POST
@company_required(Role.ADMIN)
def quickbooks_reconciliation_fix(request, review_id: int, index: int):
    from integrations.services.reconciliation import reconciliation_fix, reconciliation_row

    connection = _connection_or_redirect(request)
    if connection is None:
        return redirect(SETTINGS_PAGE)
    # Another company's check, or one of a QuickBooks company connected before: 404.
    reconciliation_row(company=request.company, review_id=review_id, index=index, realm_id=connection.realm_id)
    invoice_id = request.POST.get("invoice_id", "")
    try:
        done = reconciliation_fix(
            connection=connection,
            review_id=review_id,
            index=index,
            user=request.user,
            invoice_id=int(invoice_id) if invoice_id.isdigit() else None,
            choice=request.POST.get("choice", ""),
        )
    except ApplicationError as error:
        messages.error(request, error.message)
    except QuickBooksError as error:  # e.g. applying a payment there: nothing changed here
        logger.warning("qbo.reconciliation.fix_failed company=%s error=%s", request.company.pk, type(error).__name__)
        messages.error(request, f"QuickBooks refused or did not answer; nothing was changed. {error.message}")
    else:
        messages.success(request, done)
    return redirect(_back(request, RECONCILIATION_PAGE))


@require_GET
@company_required(Role.STAFF)
def quickbooks_reconciliation_csv(request):
    from django.http import HttpResponse

    from integrations.services.reconciliation import latest_reconciliation, reconciliation_csv

    review = latest_reconciliation(company=request.company)
    response = HttpResponse(reconciliation_csv(review), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="quickbooks-reconciliation.csv"'
    return response


# --- send existing invoices (batch) ------------------------------------------------------------------------


def _backfill_context(company, connection) -> dict:
    from integrations.services import backfill

    run = backfill.backfill_latest(company=company)
    waiting = 0 if run is not None and run.is_live else backfill.backfill_candidates(connection=connection).count()
    return {"run": run, "waiting": waiting}


@require_POST
@company_required(Role.ADMIN)
def quickbooks_backfill(request):
    """ "Send existing invoices": start (or resume) the batch send; its progress shows on the settings page."""
    import datetime as dt

    from integrations.services import backfill

    connection = _connection_or_redirect(request)
    if connection is None:
        return redirect(SETTINGS_PAGE)
    since = None
    if request.POST.get("since"):
        try:
            since = dt.date.fromisoformat(request.POST["since"])
        except ValueError:
            messages.error(request, "“Issued from” must be a date (YYYY-MM-DD).")
            return redirect(SETTINGS_PAGE)
    try:
        run = backfill.backfill_start(company=request.company, user=request.user, since=since)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Sending {run.total} invoice{'s' if run.total != 1 else ''} to QuickBooks.")
    return redirect(SETTINGS_PAGE)


@require_GET
@company_required(Role.STAFF)
def quickbooks_backfill_progress(request):
    """The progress card (htmx polls it every 2 s while a run is live)."""
    from integrations import selectors

    connection = selectors.connection_for(company=request.company)
    if connection is None or not connection.is_connected:
        return HttpResponse("")
    context = {"backfill": _backfill_context(request.company, connection), "is_admin": _is(request, Role.ADMIN)}
    return render(request, "integrations/_backfill.html", context)
