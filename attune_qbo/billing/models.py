"""Our invoicing. Money is Decimal; every change goes through `billing.services`."""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q

from attune_qbo.core.models import TimeStampedModel

INVOICE_NUMBER_MAX_LENGTH = 21  # QuickBooks Online's DocNumber limit; we refuse longer numbers up front.
# QuickBooks keeps at most 1000 characters of CustomerMemo (integrations/quickbooks/constants.py
# MEMO_MAX_LENGTH); longer memos are refused here rather than cut off there.
INVOICE_MEMO_MAX_LENGTH = 1000
# The one bound on an invoice's line count: the page's formset, the API and the QuickBooks push honour it.
INVOICE_MAX_LINES = 250
# Every amount (line, subtotal, tax, total, payment) fits the database's 14-digit columns with room to spare.
MONEY_MAX = Decimal("999999999.99")
# Home-currency units per one unit of the invoice currency: positive, at most this, at most 6 decimals.
EXCHANGE_RATE_MAX = Decimal("1000000")


class TenantQuerySet(models.QuerySet):
    def for_company(self, company):
        return self.filter(company=company)


class TaxRate(TimeStampedModel):
    company = models.ForeignKey("tenants.Company", on_delete=models.CASCADE, related_name="tax_rates")
    name = models.CharField(max_length=100)
    percent = models.DecimalField(max_digits=6, decimal_places=3, default=Decimal("0"))
    taxable = models.BooleanField(default=True, help_text="Untick for exempt / zero-rated categories.")

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["company", "name"], name="uniq_taxrate_company_name")]

    def __str__(self) -> str:
        return f"{self.name} ({self.percent.normalize():f}%)" if self.taxable else f"{self.name} (exempt)"


class Client(TimeStampedModel):
    """Whom a Company invoices. Becomes a QuickBooks Customer."""

    company = models.ForeignKey("tenants.Company", on_delete=models.CASCADE, related_name="clients")
    display_name = models.CharField(max_length=100)
    email = models.EmailField(blank=True)
    address_line1 = models.CharField("address line 1", max_length=200, blank=True)
    address_line2 = models.CharField("address line 2", max_length=200, blank=True)
    city = models.CharField(max_length=100, blank=True)
    region = models.CharField("state / region", max_length=100, blank=True)
    postal_code = models.CharField(max_length=20, blank=True)
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166-1 alpha-2")
    currency = models.CharField(max_length=3, default="USD")

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["display_name"]
        constraints = [
            models.UniqueConstraint(fields=["company", "display_name"], name="uniq_client_company_display_name")
        ]

    def __str__(self) -> str:
        return self.display_name


class Product(TimeStampedModel):
    """A product or service a Company sells. Maps to a QuickBooks Item."""

    company = models.ForeignKey("tenants.Company", on_delete=models.CASCADE, related_name="products")
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    unit_price = models.DecimalField(max_digits=14, decimal_places=4, default=Decimal("0"))
    active = models.BooleanField(default=True)
    default_tax_rate = models.ForeignKey(
        TaxRate, null=True, blank=True, on_delete=models.SET_NULL, related_name="products"
    )

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["company", "name"], name="uniq_product_company_name")]

    def __str__(self) -> str:
        return self.name


class InvoiceStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    FINALIZED = "finalized", "Finalized"
    PAID = "paid", "Paid"
    VOID = "void", "Void"


class Invoice(TimeStampedModel):
    company = models.ForeignKey("tenants.Company", on_delete=models.CASCADE, related_name="invoices")
    number = models.CharField(max_length=INVOICE_NUMBER_MAX_LENGTH)
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="invoices")
    issue_date = models.DateField()
    due_date = models.DateField()
    currency = models.CharField(max_length=3, default="USD")
    # Units of the company's home currency per one unit of `currency`, when we know it. Sent to QuickBooks
    # as ExchangeRate for foreign-currency invoices; without it QuickBooks applies its own rate.
    exchange_rate = models.DecimalField(
        max_digits=16,
        decimal_places=6,
        null=True,
        blank=True,
        help_text="Home-currency units per one unit of the invoice's currency (foreign-currency invoices only).",
    )
    memo = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=InvoiceStatus.choices, default=InvoiceStatus.DRAFT)
    # Derived from the lines by `billing.calculations`, stored for lists and reports.
    subtotal = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0.00"))
    tax_total = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0.00"))
    total = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0.00"))
    amount_paid = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0.00"))
    finalized_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["-issue_date", "-id"]
        constraints = [models.UniqueConstraint(fields=["company", "number"], name="uniq_invoice_company_number")]
        indexes = [
            models.Index(fields=["company", "status", "-issue_date"], name="invoice_company_status_idx"),
            # The invoice list's order (newest issued first) for 20,000 invoices without a sort (bench/pages.py).
            models.Index(fields=["company", "-issue_date", "-id"], name="invoice_list_idx"),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def balance_due(self) -> Decimal:
        return self.total - self.amount_paid

    @property
    def is_editable(self) -> bool:
        return self.status != InvoiceStatus.VOID


class InvoiceLine(models.Model):
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveIntegerField(default=0)
    product = models.ForeignKey(Product, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    description = models.CharField(max_length=500, blank=True)
    quantity = models.DecimalField(max_digits=12, decimal_places=4, default=Decimal("1"))
    unit_price = models.DecimalField(max_digits=14, decimal_places=4, default=Decimal("0"))
    tax_rate = models.ForeignKey(TaxRate, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    amount = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0.00"))

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return f"{self.description or self.product} × {self.quantity}"


class PaymentMethod(models.TextChoices):
    BANK_TRANSFER = "bank_transfer", "Bank transfer"
    CARD = "card", "Card"
    CASH = "cash", "Cash"
    CHECK = "check", "Check"
    OTHER = "other", "Other"


class PaymentRemoval(models.TextChoices):
    DELETED = "deleted", "Deleted (recorded by mistake)"
    REFUNDED = "refunded", "Refunded to the client"


class PaymentSource(models.TextChoices):
    LOCAL = "local", "Recorded here"
    QUICKBOOKS = "quickbooks", "QuickBooks"


class Payment(TimeStampedModel):
    company = models.ForeignKey("tenants.Company", on_delete=models.CASCADE, related_name="payments")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="payments")
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    date = models.DateField()
    method = models.CharField(max_length=20, choices=PaymentMethod.choices, default=PaymentMethod.BANK_TRANSFER)
    reference = models.CharField(max_length=100, blank=True)
    source = models.CharField(max_length=12, choices=PaymentSource.choices, default=PaymentSource.LOCAL)
    external_id = models.CharField(
        max_length=64, null=True, blank=True, help_text="Id in the system the payment came from (QuickBooks)."
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["-date", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["company", "external_id"],
                condition=Q(external_id__isnull=False),
                name="uniq_payment_company_external_id",
            )
        ]

    def __str__(self) -> str:
        return f"{self.amount} on {self.invoice}"
