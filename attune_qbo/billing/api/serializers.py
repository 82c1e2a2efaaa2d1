from __future__ import annotations

from decimal import Decimal

from rest_framework import serializers

from attune_qbo.billing.models import (
    EXCHANGE_RATE_MAX,
    INVOICE_MAX_LINES,
    INVOICE_MEMO_MAX_LENGTH,
    INVOICE_NUMBER_MAX_LENGTH,
    MONEY_MAX,
    Client,
    Invoice,
    InvoiceLine,
    Payment,
    PaymentMethod,
    Product,
    TaxRate,
)
from attune_qbo.billing.services import LineData
from attune_qbo.billing.validation import validate_business_date, validate_country, validate_currency


class CompanyScopedPrimaryKeyField(serializers.PrimaryKeyRelatedField):
    """Accepts only ids of the caller's company; another company's id reads as "does not exist".

    An id is a whole number: `1.5`, `true` or `"1e3"` are refused (never rounded to another object)."""

    def __init__(self, model, **kwargs):
        self.model = model
        super().__init__(**kwargs)

    def get_queryset(self):
        return self.model.objects.for_company(self.context["company"])

    def to_internal_value(self, data):
        if isinstance(data, bool) or not (
            isinstance(data, int) or (isinstance(data, str) and data.isascii() and data.isdigit())
        ):
            self.fail("incorrect_type", data_type=type(data).__name__)
        return super().to_internal_value(data)


class ClientSerializer(serializers.ModelSerializer):
    currency = serializers.CharField(
        max_length=3, required=False, validators=[validate_currency], help_text="ISO 4217 code, e.g. USD."
    )
    country = serializers.CharField(
        max_length=2,
        required=False,
        allow_blank=True,
        validators=[validate_country],
        help_text="ISO 3166-1 alpha-2 code, e.g. US.",
    )

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
    unit_price = serializers.DecimalField(
        max_digits=14, decimal_places=4, min_value=Decimal("0"), required=False, allow_null=True
    )
    quantity = serializers.DecimalField(
        max_digits=12, decimal_places=4, min_value=Decimal("0"), required=False, default=1
    )

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
    amount = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=Decimal("0.01"), max_value=MONEY_MAX)
    date = serializers.DateField(validators=[validate_business_date])

    class Meta:
        model = Payment
        fields = ["id", "amount", "date", "method", "reference", "source", "external_id", "created_at"]
        read_only_fields = ["id", "source", "external_id", "created_at"]


class InvoiceSerializer(serializers.ModelSerializer):
    client = CompanyScopedPrimaryKeyField(Client)
    number = serializers.CharField(
        max_length=INVOICE_NUMBER_MAX_LENGTH,
        required=False,
        allow_blank=True,
        help_text=f"Leave empty to number it automatically. At most {INVOICE_NUMBER_MAX_LENGTH} characters.",
    )
    issue_date = serializers.DateField(validators=[validate_business_date], help_text="Between 1900 and 2100.")
    due_date = serializers.DateField(validators=[validate_business_date], help_text="On or after the issue date.")
    currency = serializers.CharField(
        max_length=3,
        required=False,
        allow_blank=True,
        validators=[validate_currency],
        help_text="ISO 4217 code; defaults to the client's currency.",
    )
    exchange_rate = serializers.DecimalField(
        max_digits=16,
        decimal_places=6,
        min_value=Decimal("0.000001"),
        max_value=EXCHANGE_RATE_MAX,
        required=False,
        allow_null=True,
        help_text=(
            "Only for an invoice in another currency than the company's: home-currency units per one unit of "
            "the invoice's currency (positive, at most 6 decimals). Null lets QuickBooks use its own rate."
        ),
    )
    memo = serializers.CharField(
        max_length=INVOICE_MEMO_MAX_LENGTH,
        required=False,
        allow_blank=True,
        help_text=f"Shown to the client; at most {INVOICE_MEMO_MAX_LENGTH} characters.",
    )
    lines = InvoiceLineSerializer(many=True, required=False, max_length=INVOICE_MAX_LINES)
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
            "exchange_rate",
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
