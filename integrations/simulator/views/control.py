"""The JSON control API for tests and scripts (only mounted with the simulator). No CSRF: it is for
programs, and it only exists when QUICKBOOKS_ENVIRONMENT is `simulator`."""

from __future__ import annotations

from django.db import transaction

from .. import accounting, control, oauth, payments, webhooks
from ..faults import ApiFault, json_response
from ..store import get_company
from .common import control_view, json_body


def _bad(message: str, status: int = 400):
    return json_response({"error": message}, status)


def _object(request) -> dict | None:
    data = json_body(request)
    if data is None and not request.body:
        return {}
    return data if isinstance(data, dict) else None


@control_view(("GET", "POST", "DELETE"))
def faults_view(request):
    """POST arms a switch, DELETE clears switches (?target=&realm_id=), GET lists the armed ones."""
    if request.method == "GET":
        return json_response({"faults": control.state()["faults"]})
    if request.method == "DELETE":
        cleared = control.clear_faults(target=request.GET.get("target"), realm_id=request.GET.get("realm_id"))
        return json_response({"cleared": cleared})
    data = _object(request)
    if data is None:
        return _bad("body must be a JSON object")
    try:
        switch = control.arm_fault(
            target=data.get("target", ""),
            kind=str(data.get("kind", "")),
            count=data.get("count", 1),
            realm_id=data.get("realm_id") or "",
            seconds=data.get("seconds"),
        )
    except control.ControlError as error:
        return _bad(str(error))
    return json_response({"fault": control.fault_snapshot(switch)}, 201)


@control_view(("POST",))
def reset_view(request):
    control.reset()
    return json_response({"reset": True})


@control_view(("GET",))
def state_view(request):
    try:
        return json_response(control.state(request.GET.get("realm_id") or None))
    except control.ControlError as error:
        return _bad(str(error), 404)


@control_view(("GET", "POST"))
def settings_view(request):
    if request.method == "POST":
        data = _object(request)
        if data is None:
            return _bad("body must be a JSON object")
        try:
            control.update_settings(data)
        except control.ControlError as error:
            return _bad(str(error))
    return json_response(control.settings_snapshot())


@control_view(("POST",))
def latency_view(request):
    data = _object(request)
    if data is None:
        return _bad("body must be a JSON object")
    try:
        control.set_latency(str(data.get("realm_id", "")), data.get("latency_ms"))
    except control.ControlError as error:
        return _bad(str(error))
    return json_response({"realm_id": data["realm_id"], "latency_ms": data["latency_ms"]})


@control_view(("POST",))
def tokens_view(request):
    """{"realm_id": ..., "action": "revoke" | "expire_access" | "expire_refresh"}: what a user or time does
    on Intuit's side (disconnect the app in QuickBooks, let tokens run out)."""
    data = _object(request)
    if data is None:
        return _bad("body must be a JSON object")
    try:
        affected = oauth.age_tokens(
            realm_id=str(data.get("realm_id", "")), action=str(data.get("action", ""))
        )
    except ValueError as error:
        return _bad(str(error))
    return json_response({"grants": affected})


@control_view(("POST",))
def receive_payment_view(request, realm_id: str, invoice_id: str):
    """Record a QBO Payment applied to an invoice (full open balance, or {"amount": ...})."""
    company = get_company(realm_id)
    if company is None:
        return _bad("unknown realm_id", 404)
    data = _object(request)
    if data is None:
        return _bad("body must be a JSON object")
    return _direct(
        company,
        lambda locked: accounting.envelope(
            locked, "Payment", payments.receive_payment(locked, invoice_id, amount=data.get("amount"))
        ),
        201,
    )


def _direct(company, perform, status: int):
    try:
        with transaction.atomic():
            body = perform(company)
    except ApiFault as fault:
        return json_response(fault.body(), fault.status)
    return json_response(body, status)


@control_view(("POST",))
def create_customer_view(request, realm_id: str):
    """A Customer created directly in QuickBooks (Intuit-shaped body: {"DisplayName": …, …})."""
    return _create(request, realm_id, "Customer")


@control_view(("POST",))
def create_invoice_view(request, realm_id: str):
    """An Invoice created directly in QuickBooks (Intuit-shaped body: CustomerRef, DocNumber, Line, tax)."""
    return _create(request, realm_id, "Invoice")


def _create(request, realm_id: str, entity_type: str):
    company = get_company(realm_id)
    if company is None:
        return _bad("unknown realm_id", 404)
    data = _object(request)
    if data is None:
        return _bad("body must be a JSON object")
    return _direct(
        company,
        lambda locked: accounting.envelope(locked, entity_type, payments.create(locked, entity_type, data)),
        201,
    )


@control_view(("POST",))
def void_or_delete_view(request, realm_id: str, entity_slug: str, entity_id: str, operation: str):
    """Void or delete an invoice or a payment directly in QuickBooks."""
    entity_type = {"invoices": "Invoice", "payments": "Payment"}.get(entity_slug)
    company = get_company(realm_id)
    if company is None or entity_type is None or operation not in payments.DIRECT_OPERATIONS:
        return _bad("unknown realm_id, entity or operation", 404)
    return _direct(
        company, lambda locked: payments.void_or_delete(locked, entity_type, entity_id, operation), 200
    )


@control_view(("GET", "POST"))
def webhooks_view(request):
    """GET: where and how webhooks go; POST {"url", "format", "delivery"} changes them (null = settings)."""
    if request.method == "POST":
        data = _object(request)
        if data is None:
            return _bad("body must be a JSON object")
        try:
            webhooks.update_settings(data)
        except ValueError as error:
            return _bad(str(error))
    return json_response(webhooks.settings_snapshot())


@control_view(("POST",))
def webhooks_flush_view(request):
    """Deliver now every delivery that is due, in order ({"force": true}: treat the head as due once)."""
    data = _object(request)
    if data is None:
        return _bad("body must be a JSON object")
    return json_response(webhooks.deliver_due(force=bool(data.get("force"))))


@control_view(("GET",))
def webhooks_deliveries_view(request):
    """The deliveries so far (oldest first), with their events, bodies, attempts and states."""
    from ..models import SimWebhookDelivery

    return json_response(
        {"deliveries": [webhooks.delivery_snapshot(d) for d in SimWebhookDelivery.objects.all()[:500]]}
    )
