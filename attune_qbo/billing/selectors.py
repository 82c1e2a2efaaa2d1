"""Reads of invoicing data. Every one takes the company and returns only its rows."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.shortcuts import get_object_or_404

from attune_qbo.billing.models import Client, Invoice, InvoiceStatus, Product, TaxRate


def invoice_list(*, company, status: str | None = None, search: str | None = None) -> QuerySet[Invoice]:
    invoices = Invoice.objects.for_company(company).select_related("client")
    if status in InvoiceStatus.values:
        invoices = invoices.filter(status=status)
    if search:
        search = search.strip()
        # The matching clients first (a few hundred rows), not a join evaluated for every invoice.
        clients = Client.objects.for_company(company).filter(display_name__icontains=search).values("pk")
        invoices = invoices.filter(Q(number__icontains=search) | Q(client__in=clients))
    return invoices


def invoice_get(*, company, pk) -> Invoice:
    """The company's invoice, or 404 (also for another company's invoice: existence is never confirmed)."""
    return get_object_or_404(Invoice.objects.for_company(company).select_related("client", "company"), pk=pk)


def invoice_lines(*, invoice: Invoice):
    return invoice.lines.select_related("product", "tax_rate")


def client_list(*, company, search: str | None = None) -> QuerySet[Client]:
    clients = Client.objects.for_company(company)
    if search:
        clients = clients.filter(Q(display_name__icontains=search) | Q(email__icontains=search))
    return clients


def client_get(*, company, pk) -> Client:
    return get_object_or_404(Client.objects.for_company(company), pk=pk)


def product_list(*, company, active_only: bool = False) -> QuerySet[Product]:
    products = Product.objects.for_company(company).select_related("default_tax_rate")
    return products.filter(active=True) if active_only else products


def product_get(*, company, pk) -> Product:
    return get_object_or_404(Product.objects.for_company(company), pk=pk)


def tax_rate_list(*, company) -> QuerySet[TaxRate]:
    return TaxRate.objects.for_company(company)


def tax_rate_get(*, company, pk) -> TaxRate:
    return get_object_or_404(TaxRate.objects.for_company(company), pk=pk)
