"""Server-rendered pages: what "QuickBooks" holds, and forms for the switches."""

from __future__ import annotations

from django.contrib import messages
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect, render

from .. import control, oauth, payments
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
            payment = payments.receive_payment(company, invoice_id)
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
