"""Invoicing pages. Thin: read through selectors, change through services, show ApplicationErrors as
messages or form errors."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from attune_qbo.billing import selectors, services
from attune_qbo.billing.forms import (
    ClientForm,
    InvoiceFilterForm,
    InvoiceForm,
    InvoiceLineFormSet,
    PaymentForm,
    ProductForm,
    TaxRateForm,
)
from attune_qbo.billing.models import InvoiceStatus, Payment, PaymentRemoval
from attune_qbo.core.exceptions import ApplicationError
from attune_qbo.core.integrations import invoice_list_cells, invoice_list_columns, invoice_panels
from attune_qbo.core.pagination import BoundedPaginator
from attune_qbo.tenants.models import Role
from attune_qbo.tenants.views import company_required

PAGE_SIZE = 25
COLUMN_FILTER_WINDOW = 4  # pages counted past the current one when an integration column filters the list


# --- invoices --------------------------------------------------------------------------------------------


@company_required()
def invoice_list(request):
    filters = InvoiceFilterForm(request.GET or None)
    status = search = None
    if filters.is_valid():
        status, search = filters.cleaned_data["status"] or None, filters.cleaned_data["q"] or None
    invoices = selectors.invoice_list(company=request.company, status=status, search=search)
    invoices, columns = invoice_list_columns(request, invoices)  # e.g. QuickBooks: Synced / Failed / ...
    # The count stops at 10,000 invoices. A search or a QuickBooks-column filter costs work per invoice (a LIKE, a
    # lookup of its latest sync), so those count only a few pages past the one shown (Next is there while more
    # match): "Page 1 of 5+ · more than 125".
    costly = bool(search) or any(column["value"] for column in columns)
    page = BoundedPaginator(invoices, PAGE_SIZE, window_pages=COLUMN_FILTER_WINDOW if costly else 0)
    page = page.get_page(request.GET.get("page"))
    invoice_list_cells(request, columns, page)
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "billing/invoice_list.html",
        {"page": page, "filters": filters, "query": query.urlencode(), "statuses": InvoiceStatus, "columns": columns},
    )


@company_required()
def invoice_detail(request, pk):
    invoice = selectors.invoice_get(company=request.company, pk=pk)
    today = timezone.localdate()
    payment_form = PaymentForm(initial={"amount": invoice.balance_due, "date": today})
    return render(
        request,
        "billing/invoice_detail.html",
        {
            "invoice": invoice,
            "lines": selectors.invoice_lines(invoice=invoice),
            "payments": invoice.payments.all(),
            "payment_form": payment_form,
            "can_finalize": request.membership.has_role(Role.STAFF),
            "can_void": request.membership.has_role(Role.ADMIN),
            "can_remove_payments": request.membership.has_role(Role.ADMIN),
            "removal_reasons": PaymentRemoval.choices,
            "can_edit": invoice.status != InvoiceStatus.VOID and services.may_edit_invoice(request.user, invoice),
            "statuses": InvoiceStatus,
            "invoice_panels": invoice_panels(request, invoice),
        },
    )


def _invoice_form_page(request, *, invoice=None):
    company = request.company
    if request.method == "POST":
        form = InvoiceForm(request.POST, company=company)
        formset = InvoiceLineFormSet(request.POST, company=company, prefix="lines")
        if form.is_valid() and formset.is_valid():
            data = form.cleaned_data
            try:
                if invoice is None:
                    invoice = services.invoice_create(
                        company=company, user=request.user, lines=formset.line_data(), **data
                    )
                    messages.success(request, f"Invoice {invoice.number} created as a draft.")
                else:
                    invoice = services.invoice_update(
                        invoice=invoice, user=request.user, lines=formset.line_data(), **data
                    )
                    messages.success(request, f"Invoice {invoice.number} saved.")
                return redirect("billing:invoice-detail", pk=invoice.pk)
            except ApplicationError as error:
                field = error.extra.get("field")
                form.add_error(field if field in form.fields else None, error.message)
    elif invoice is not None:
        form = InvoiceForm(
            company=company,
            initial={
                "client": invoice.client_id,
                "number": invoice.number,
                "issue_date": invoice.issue_date,
                "due_date": invoice.due_date,
                "currency": invoice.currency,
                "exchange_rate": invoice.exchange_rate.normalize() if invoice.exchange_rate else None,
                "memo": invoice.memo,
            },
        )
        formset = InvoiceLineFormSet(
            company=company,
            prefix="lines",
            initial=[
                {
                    "product": line.product_id,
                    "description": line.description,
                    "quantity": line.quantity.normalize(),
                    "unit_price": line.unit_price.normalize(),
                    "tax_rate": line.tax_rate_id,
                }
                for line in selectors.invoice_lines(invoice=invoice)
            ],
        )
    else:
        today = timezone.localdate()
        form = InvoiceForm(
            company=company,
            initial={
                "issue_date": today,
                "due_date": today + dt.timedelta(days=30),
                "client": request.GET.get("client"),
            },
        )
        formset = InvoiceLineFormSet(company=company, prefix="lines")
    return render(request, "billing/invoice_form.html", {"form": form, "formset": formset, "invoice": invoice})


@company_required()
def invoice_create(request):
    return _invoice_form_page(request)


@company_required()
def invoice_edit(request, pk):
    invoice = selectors.invoice_get(company=request.company, pk=pk)
    if not services.may_edit_invoice(request.user, invoice):
        raise PermissionDenied(
            f"Invoice {invoice.number} is {invoice.get_status_display().lower()}: members can edit drafts only. "
            "Ask a staff member or an admin of the company to change it."
        )
    if invoice.status == InvoiceStatus.VOID:
        messages.error(request, f"Invoice {invoice.number} is void and can no longer be edited.")
        return redirect("billing:invoice-detail", pk=invoice.pk)
    return _invoice_form_page(request, invoice=invoice)


def _invoice_action(request, pk, action, success: str):
    invoice = selectors.invoice_get(company=request.company, pk=pk)
    try:
        action(invoice=invoice, user=request.user)
        messages.success(request, success.format(number=invoice.number))
    except ApplicationError as error:
        messages.error(request, error.message)
    return redirect("billing:invoice-detail", pk=invoice.pk)


@require_POST
@company_required(Role.STAFF)
def invoice_finalize(request, pk):
    return _invoice_action(request, pk, services.invoice_finalize, "Invoice {number} finalized.")


@require_POST
@company_required(Role.ADMIN)
def invoice_void(request, pk):
    return _invoice_action(request, pk, services.invoice_void, "Invoice {number} voided.")


@require_POST
@company_required(Role.STAFF)
def invoice_record_payment(request, pk):
    invoice = selectors.invoice_get(company=request.company, pk=pk)
    form = PaymentForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            messages.error(request, errors[0])
        return redirect("billing:invoice-detail", pk=invoice.pk)
    try:
        payment = services.payment_record(invoice=invoice, user=request.user, **form.cleaned_data)
        messages.success(request, f"Payment of {payment.amount} recorded.")
    except ApplicationError as error:
        messages.error(request, error.message)
    return redirect("billing:invoice-detail", pk=invoice.pk)


@require_POST
@company_required(Role.ADMIN)
def invoice_remove_payment(request, pk, payment_id):
    """Take back a payment recorded here (deleted by mistake, or refunded); QuickBooks voids its copy."""
    invoice = selectors.invoice_get(company=request.company, pk=pk)
    payment = get_object_or_404(Payment.objects.for_company(request.company), pk=payment_id, invoice=invoice)
    reason = request.POST.get("reason", PaymentRemoval.DELETED)
    try:
        services.payment_remove(payment=payment, user=request.user, reason=reason)
        done = "refunded" if reason == PaymentRemoval.REFUNDED else "deleted"
        messages.success(request, f"Payment of {payment.amount} {done}; invoice {invoice.number} is open again.")
    except ApplicationError as error:
        messages.error(request, error.message)
    return redirect("billing:invoice-detail", pk=invoice.pk)


# --- clients, products, tax rates ------------------------------------------------------------------------


def _list_page(request, template, objects, **extra):
    page = Paginator(objects, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, template, {"page": page, "query": "", **extra})


def _model_form_page(request, *, form_class, template, save, instance=None, success, list_url, form_kwargs=None):
    form_kwargs = form_kwargs or {}
    form = form_class(request.POST or None, instance=instance, **form_kwargs)
    if request.method == "POST" and form.is_valid():
        try:
            saved = save(form.cleaned_data)
            messages.success(request, success.format(name=saved))
            return redirect(list_url)
        except ApplicationError as error:
            form.add_error(None, error.message)
    return render(request, template, {"form": form, "object": instance})


@company_required()
def client_list(request):
    search = request.GET.get("q", "").strip()
    return _list_page(
        request,
        "billing/client_list.html",
        selectors.client_list(company=request.company, search=search),
        q=search,
    )


@company_required()
def client_edit(request, pk=None):
    company = request.company
    client = selectors.client_get(company=company, pk=pk) if pk else None
    return _model_form_page(
        request,
        form_class=ClientForm,
        template="billing/client_form.html",
        instance=client,
        save=lambda data: services.client_save(company=company, client=client, **data),
        success="Client “{name}” saved.",
        list_url=reverse("billing:client-list"),
    )


@company_required()
def product_list(request):
    return _list_page(request, "billing/product_list.html", selectors.product_list(company=request.company))


@company_required()
def product_edit(request, pk=None):
    company = request.company
    product = selectors.product_get(company=company, pk=pk) if pk else None
    return _model_form_page(
        request,
        form_class=ProductForm,
        template="billing/product_form.html",
        instance=product,
        save=lambda data: services.product_save(company=company, product=product, **data),
        success="Product “{name}” saved.",
        list_url=reverse("billing:product-list"),
        form_kwargs={"company": company},
    )


@company_required()
def tax_rate_list(request):
    return _list_page(
        request,
        "billing/tax_rate_list.html",
        selectors.tax_rate_list(company=request.company),
        can_edit=request.membership.has_role(Role.ADMIN),
    )


@company_required(Role.ADMIN)
def tax_rate_edit(request, pk=None):
    company = request.company
    tax_rate = selectors.tax_rate_get(company=company, pk=pk) if pk else None
    return _model_form_page(
        request,
        form_class=TaxRateForm,
        template="billing/tax_rate_form.html",
        instance=tax_rate,
        save=lambda data: services.tax_rate_save(company=company, tax_rate=tax_rate, **data),
        success="Tax rate “{name}” saved.",
        list_url=reverse("billing:tax-rate-list"),
    )
