from __future__ import annotations

from rest_framework import serializers

from attune_qbo.billing.models import Client, Invoice, InvoiceLine, Payment, PaymentMethod, Product, TaxRate
from attune_qbo.billing.services import LineData


class CompanyScopedPrimaryKeyField(serializers.PrimaryKeyRelatedField):
    """Accepts only ids of the caller's company; another company's id reads as "does not exist"."""

    def __init__(self, model, **kwargs):
        self.model = model
        super().__init__(**kwargs)

    def get_queryset(self):
        return self.model.objects.for_company(self.context["company"])


class ClientSerializer(serializers.ModelSerializer):
    class Meta:
        model = Client
        fields = [
            "id",
            "display_name",
            "email",
            "address_line1",
            "address_line2",
            "city",
            "region",
            "postal_code",
            "country",
            "currency",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]


class TaxRateSerializer(serializers.ModelSerializer):
    class Meta:
        model = TaxRate
        fields = ["id", "name", "percent", "taxable"]


class ProductSerializer(serializers.ModelSerializer):
    default_tax_rate = CompanyScopedPrimaryKeyField(TaxRate, required=False, allow_null=True)

    class Meta:
        model = Product
        fields = [
            "id",
            "name",
            "description",
            "unit_price",
            "active",
            "default_tax_rate",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]


class InvoiceLineSerializer(serializers.ModelSerializer):
    product = CompanyScopedPrimaryKeyField(Product, required=False, allow_null=True)
    tax_rate = CompanyScopedPrimaryKeyField(TaxRate, required=False, allow_null=True)
    unit_price = serializers.DecimalField(max_digits=14, decimal_places=4, required=False, allow_null=True)
    quantity = serializers.DecimalField(max_digits=12, decimal_places=4, required=False, default=1)

    class Meta:
        model = InvoiceLine
        fields = ["id", "position", "product", "description", "quantity", "unit_price", "tax_rate", "amount"]
        read_only_fields = ["id", "position", "amount"]

    def to_line_data(self, data: dict) -> LineData:
        return LineData(
            product=data.get("product"),
            description=data.get("description", ""),
            quantity=data.get("quantity", 1),
            unit_price=data.get("unit_price"),
            tax_rate=data.get("tax_rate"),
        )


class PaymentSerializer(serializers.ModelSerializer):
    method = serializers.ChoiceField(choices=PaymentMethod.choices, default=PaymentMethod.BANK_TRANSFER)

    class Meta:
        model = Payment
        fields = ["id", "amount", "date", "method", "reference", "source", "external_id", "created_at"]
        read_only_fields = ["id", "source", "external_id", "created_at"]


class InvoiceSerializer(serializers.ModelSerializer):
    client = CompanyScopedPrimaryKeyField(Client)
    number = serializers.CharField(max_length=100, required=False, allow_blank=True)
    currency = serializers.CharField(max_length=3, required=False, allow_blank=True)
    lines = InvoiceLineSerializer(many=True, required=False)
    payments = PaymentSerializer(many=True, read_only=True)

    class Meta:
        model = Invoice
        fields = [
            "id",
            "number",
            "client",
            "issue_date",
            "due_date",
            "currency",
            "memo",
            "status",
            "subtotal",
            "tax_total",
            "total",
            "amount_paid",
            "balance_due",
            "finalized_at",
            "voided_at",
            "lines",
            "payments",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "id",
            "status",
            "subtotal",
            "tax_total",
            "total",
            "amount_paid",
            "balance_due",
            "finalized_at",
            "voided_at",
            "created_at",
            "updated_at",
        ]

    balance_due = serializers.DecimalField(max_digits=14, decimal_places=2, read_only=True)

    def line_data(self) -> list[LineData] | None:
        if "lines" not in self.validated_data:
            return None
        line_serializer = self.fields["lines"].child
        return [line_serializer.to_line_data(line) for line in self.validated_data["lines"]]

    def invoice_fields(self) -> dict:
        return {key: value for key, value in self.validated_data.items() if key != "lines"}
