"""Billing API: thin views over the same services the pages use."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from attune_qbo.billing import selectors, services
from attune_qbo.billing.api.serializers import (
    ClientSerializer,
    InvoiceSerializer,
    PaymentSerializer,
    ProductSerializer,
    TaxRateSerializer,
)
from attune_qbo.billing.models import Client, Invoice, Payment, PaymentRemoval, Product, TaxRate
from attune_qbo.core.api_mixins import CompanyScopedAPIMixin
from attune_qbo.tenants.permissions import IsCompanyAdmin, IsCompanyMember, IsCompanyStaff


@extend_schema_view(
    list=extend_schema(description="Your company's invoices, newest first. Filter with `?status=` and `?search=`."),
    retrieve=extend_schema(description="One invoice with its lines and payments."),
    create=extend_schema(
        description="Create a draft invoice. Totals are computed from the lines. At most 250 lines; the number "
        "at most 21 characters (left empty, the next number is used)."
    ),
    update=extend_schema(
        description="Replace an invoice's fields and lines. Members can change drafts only; staff and admins "
        "can also change finalized and paid invoices. Void invoices cannot change."
    ),
    partial_update=extend_schema(description="Change some fields of an invoice (same rules as a full update)."),
)
class InvoiceViewSet(
    CompanyScopedAPIMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = InvoiceSerializer
    lookup_value_regex = r"[0-9]+"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # drf-spectacular describing the endpoint
            return Invoice.objects.none()
        invoices = selectors.invoice_list(
            company=self.company,
            status=self.request.query_params.get("status"),
            search=self.request.query_params.get("search"),
        )
        return invoices.prefetch_related("lines", "payments")

    def get_permissions(self):
        if self.action == "finalize" or self.action == "record_payment":
            return [IsCompanyStaff()]
        if self.action in ("void", "remove_payment"):
            return [IsCompanyAdmin()]
        return [IsCompanyMember()]

    def _respond(self, invoice, status_code=status.HTTP_200_OK):
        invoice = self.get_queryset().get(pk=invoice.pk)
        return Response(self.get_serializer(invoice).data, status=status_code)

    def create(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        invoice = services.invoice_create(
            company=self.company,
            user=request.user,
            lines=serializer.line_data() or [],
            **serializer.invoice_fields(),
        )
        return self._respond(invoice, status.HTTP_201_CREATED)

    def update(self, request, pk=None, partial=False):
        invoice = self.get_object()
        serializer = self.get_serializer(invoice, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        invoice = services.invoice_update(
            invoice=invoice, user=request.user, lines=serializer.line_data(), **serializer.invoice_fields()
        )
        return self._respond(invoice)

    def partial_update(self, request, pk=None):
        return self.update(request, pk=pk, partial=True)

    @extend_schema(request=None, responses=InvoiceSerializer, description="Finalize a draft (staff or admin).")
    @action(detail=True, methods=["post"])
    def finalize(self, request, pk=None):
        return self._respond(services.invoice_finalize(invoice=self.get_object(), user=request.user))

    @extend_schema(request=None, responses=InvoiceSerializer, description="Void an invoice without payments (admin).")
    @action(detail=True, methods=["post"])
    def void(self, request, pk=None):
        return self._respond(services.invoice_void(invoice=self.get_object(), user=request.user))

    @extend_schema(
        request=PaymentSerializer,
        responses=InvoiceSerializer,
        description="Record a payment on a finalized invoice (staff or admin); at most the balance due.",
    )
    @action(detail=True, methods=["post"], url_path="payments")
    def record_payment(self, request, pk=None):
        invoice = self.get_object()
        serializer = PaymentSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.payment_record(invoice=invoice, user=request.user, **serializer.validated_data)
        return self._respond(invoice, status.HTTP_201_CREATED)

    @extend_schema(
        request=None,
        responses=InvoiceSerializer,
        parameters=[
            OpenApiParameter(
                "reason",
                str,
                enum=PaymentRemoval.values,
                description="deleted (recorded by mistake, the default) or refunded (money given back).",
            )
        ],
        description="Take back a payment recorded here (admin). The invoice gets its balance back; a connected "
        "QuickBooks voids its copy. Payments that came from QuickBooks are changed there (400).",
    )
    @action(detail=True, methods=["delete"], url_path=r"payments/(?P<payment_id>[0-9]+)")
    def remove_payment(self, request, pk=None, payment_id=None):
        invoice = self.get_object()
        payment = get_object_or_404(Payment.objects.for_company(self.company), pk=payment_id, invoice=invoice)
        reason = request.query_params.get("reason", PaymentRemoval.DELETED)
        services.payment_remove(payment=payment, user=request.user, reason=reason)
        return self._respond(invoice)


class _SavedByServiceViewSet(
    CompanyScopedAPIMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    # Create/update through a `<entity>_save(company=..., <entity>=..., **fields)` service.

    save_service = None
    instance_kwarg = ""
    lookup_value_regex = r"[0-9]+"

    def perform_create(self, serializer):
        serializer.instance = type(self).save_service(company=self.company, **serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = type(self).save_service(
            company=self.company, **{self.instance_kwarg: serializer.instance}, **serializer.validated_data
        )


class ClientViewSet(_SavedByServiceViewSet):
    """Your company's clients (the customers you invoice). Filter with `?search=` (name or email)."""

    serializer_class = ClientSerializer
    save_service = services.client_save
    instance_kwarg = "client"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Client.objects.none()
        return selectors.client_list(company=self.company, search=self.request.query_params.get("search"))


class ProductViewSet(_SavedByServiceViewSet):
    """Your company's products and services, used on invoice lines."""

    serializer_class = ProductSerializer
    save_service = services.product_save
    instance_kwarg = "product"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Product.objects.none()
        return selectors.product_list(company=self.company)


class TaxRateViewSet(CompanyScopedAPIMixin, viewsets.ReadOnlyModelViewSet):
    """Your company's tax rates (read-only here; admins manage them on the Tax rates page)."""

    serializer_class = TaxRateSerializer
    lookup_value_regex = r"[0-9]+"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return TaxRate.objects.none()
        return selectors.tax_rate_list(company=self.company)
