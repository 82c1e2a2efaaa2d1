"""Server-rendered pages: what "QuickBooks" holds, and forms for the switches."""

from __future__ import annotations

from django.contrib import messages
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect, render

from .. import control, oauth, payments, webhooks
from ..faults import ApiFault
from ..models import FaultKind, FaultTarget, SimCompany, SimEntity, SimGrant
from ..store import ensure_seeded
from ..store import render as render_entity
from .common import page_view

SECTIONS = ("customers", "invoices", "payments", "reference")


def _company(realm_id: str) -> SimCompany:
    ensure_seeded()
    company = SimCompany.objects.filter(realm_id=realm_id).first()
    if company is None:
        raise Http404("No such sample company")
    return company


@page_view(("GET",))
def index(request):
    ensure_seeded()
    row = control.control_row()
    companies = list(SimCompany.objects.all())
    grants = SimGrant.objects.filter(revoked_at__isnull=True).select_related("company")
    for company in companies:
        company.active_grants = [g for g in grants if g.company_id == company.pk]
    return render(
        request,
        "simulator/index.html",
        {
            "companies": companies,
            "faults": control.state()["faults"],
            "settings": control.settings_snapshot(row),
            "control": row,
            "fault_kinds": FaultKind.choices,
            "fault_targets": FaultTarget.choices,
            "webhooks": webhooks.settings_snapshot(row),
            "webhook_formats": webhooks.FORMATS,
            "webhook_modes": webhooks.MODES,
        },
    )


def _rows(company: SimCompany, entity_type: str, *, include_inactive: bool = True):
    rows = SimEntity.objects.filter(company=company, entity_type=entity_type, deleted=False).order_by(
        "-number"
    )
    if not include_inactive:
        rows = rows.filter(active=True)
    return [dict(render_entity(row, company), sim_voided=row.voided) for row in rows[:500]]


@page_view(("GET",))
def company_section(request, realm_id: str, section: str):
    company = _company(realm_id)
    if section not in SECTIONS:
        raise Http404("No such page")
    context = {"company": company, "section": section, "sections": SECTIONS}
    if section == "customers":
        context["customers"] = _rows(company, "Customer")
    elif section == "invoices":
        context["invoices"] = _rows(company, "Invoice")
        context["customers"] = _rows(company, "Customer", include_inactive=False)
        context["items"] = _rows(company, "Item", include_inactive=False)
        context["tax_codes"] = _rows(company, "TaxCode", include_inactive=False)
        context["us"] = company.tax_style == "us"
    elif section == "payments":
        context["payments"] = _rows(company, "Payment")
    else:
        context.update(
            {
                name: _rows(company, entity_type)
                for name, entity_type in (
                    ("items", "Item"),
                    ("accounts", "Account"),
                    ("tax_codes", "TaxCode"),
                    ("tax_rates", "TaxRate"),
                )
            }
        )
    return render(request, f"simulator/company_{section}.html", context)


@page_view(("POST",))
def receive_payment(request, realm_id: str, invoice_id: str):
    company = _company(realm_id)
    try:
        with transaction.atomic():
            payment = payments.receive_payment(company, invoice_id, amount=request.POST.get("amount") or None)
    except ApiFault as fault:
        messages.error(request, f"QuickBooks refused the payment: {fault.detail}")
    else:
        messages.success(
            request, f"Payment {payment['Id']} of {payment['TotalAmt']} applied to invoice {invoice_id}."
        )
    return redirect("simulator:company-section", realm_id=realm_id, section="invoices")


@page_view(("POST",))
def arm_fault(request):
    try:
        count = int(request.POST.get("count") or 1)
        seconds = request.POST.get("seconds") or None
        control.arm_fault(
            target=request.POST.get("target", ""),
            kind=request.POST.get("kind", ""),
            count=count,
            realm_id=request.POST.get("realm_id", ""),
            seconds=seconds,
        )
    except (ValueError, control.ControlError) as error:
        messages.error(request, f"Fault not armed: {error}")
    else:
        messages.success(request, "Fault switch armed.")
    return redirect("simulator:index")


@page_view(("POST",))
def clear_faults(request):
    cleared = control.clear_faults()
    messages.success(request, f"Cleared {cleared} fault switch(es).")
    return redirect("simulator:index")


def _tri_state(value: str):
    return {"on": True, "off": False}.get(value)


@page_view(("POST",))
def update_settings(request):
    try:
        control.update_settings(
            {
                "rate_limits": _tri_state(request.POST.get("rate_limits", "")),
                "send_retry_after": _tri_state(request.POST.get("send_retry_after", "")),
            }
        )
        for company in SimCompany.objects.all():
            field = f"latency_{company.realm_id}"
            if request.POST.get(field, "") != "":
                control.set_latency(company.realm_id, int(request.POST[field]))
    except (ValueError, control.ControlError) as error:
        messages.error(request, f"Settings not saved: {error}")
    else:
        messages.success(request, "Settings saved.")
    return redirect("simulator:index")


@page_view(("POST",))
def reset(request):
    control.reset()
    messages.success(request, "The simulator is back to its sample data.")
    return redirect("simulator:index")


@page_view(("POST",))
def disconnect(request, realm_id: str):
    """The user disconnects the app from inside QuickBooks: every grant of the company is revoked."""
    _company(realm_id)
    count = oauth.age_tokens(realm_id=realm_id, action="revoke")
    messages.success(request, f"Disconnected {count} app connection(s).")
    return redirect("simulator:index")


@page_view(("POST",))
def new_customer(request, realm_id: str):
    """A customer added by a person in QuickBooks."""
    company = _company(realm_id)
    data = {"DisplayName": request.POST.get("display_name", "").strip()}
    if request.POST.get("email", "").strip():
        data["PrimaryEmailAddr"] = {"Address": request.POST["email"].strip()}
    try:
        with transaction.atomic():
            customer = payments.create(company, "Customer", data)
    except ApiFault as fault:
        messages.error(request, f"QuickBooks refused the customer: {fault.detail}")
    else:
        messages.success(request, f"Customer {customer['Id']} ({customer['DisplayName']}) created.")
    return redirect("simulator:company-section", realm_id=realm_id, section="customers")


@page_view(("POST",))
def new_invoice(request, realm_id: str):
    """An invoice typed in QuickBooks: one line (item, quantity, unit price, tax code) and a DocNumber."""
    company = _company(realm_id)
    post = request.POST
    try:
        qty = payments.money(post.get("qty") or "1")
        unit_price = payments.money(post.get("unit_price") or "0")
    except ValueError:
        messages.error(request, "Quantity and unit price must be numbers.")
        return redirect("simulator:company-section", realm_id=realm_id, section="invoices")
    detail = {"ItemRef": {"value": post.get("item", "")}, "Qty": str(qty), "UnitPrice": str(unit_price)}
    if post.get("tax_code"):
        detail["TaxCodeRef"] = {"value": post["tax_code"]}
    data = {
        "CustomerRef": {"value": post.get("customer", "")},
        "Line": [
            {
                "Amount": str(qty * unit_price),
                "DetailType": "SalesItemLineDetail",
                "Description": post.get("description", ""),
                "SalesItemLineDetail": detail,
            }
        ],
    }
    if post.get("doc_number", "").strip():
        data["DocNumber"] = post["doc_number"].strip()
    if post.get("txn_tax_code"):
        data["TxnTaxDetail"] = {"TxnTaxCodeRef": {"value": post["txn_tax_code"]}}
    try:
        with transaction.atomic():
            invoice = payments.create(company, "Invoice", data)
    except ApiFault as fault:
        messages.error(request, f"QuickBooks refused the invoice: {fault.detail}")
    else:
        messages.success(request, f"Invoice {invoice['DocNumber']} (Id {invoice['Id']}) created.")
    return redirect("simulator:company-section", realm_id=realm_id, section="invoices")


@page_view(("POST",))
def void_or_delete(request, realm_id: str, entity_slug: str, entity_id: str, operation: str):
    company = _company(realm_id)
    entity_type = {"invoices": "Invoice", "payments": "Payment"}.get(entity_slug)
    if entity_type is None or operation not in payments.DIRECT_OPERATIONS:
        raise Http404("No such page")
    try:
        with transaction.atomic():
            payments.void_or_delete(company, entity_type, entity_id, operation)
    except ApiFault as fault:
        messages.error(request, f"QuickBooks refused: {fault.detail}")
    else:
        messages.success(request, f"{entity_type} {entity_id}: {operation} done.")
    return redirect("simulator:company-section", realm_id=realm_id, section=entity_slug)


@page_view(("POST",))
def update_webhooks(request):
    try:
        webhooks.update_settings(
            {
                "url": request.POST.get("url", "").strip() or None,
                "format": request.POST.get("format") or None,
                "delivery": request.POST.get("delivery") or None,
            }
        )
    except ValueError as error:
        messages.error(request, f"Webhook settings not saved: {error}")
    else:
        messages.success(request, "Webhook settings saved.")
    return redirect("simulator:index")


@page_view(("POST",))
def flush_webhooks(request):
    result = webhooks.deliver_due(force=bool(request.POST.get("force")))
    messages.success(
        request,
        f"Webhooks: {result['delivered']} delivered, {result['failed_attempts']} failed attempt(s), "
        f"{result['pending_deliveries']} pending.",
    )
    return redirect("simulator:index")
