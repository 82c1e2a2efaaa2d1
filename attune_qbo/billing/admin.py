from django.contrib import admin

from attune_qbo.billing.models import Client, Invoice, InvoiceLine, Payment, Product, TaxRate
from attune_qbo.core.admin import TenantScopedAdmin


class InvoiceLineInline(admin.TabularInline):
    model = InvoiceLine
    extra = 0
    fields = ["position", "product", "description", "quantity", "unit_price", "tax_rate", "amount"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class PaymentInline(admin.TabularInline):
    model = Payment
    extra = 0
    fields = ["date", "amount", "method", "reference", "source", "external_id"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Invoice)
class InvoiceAdmin(TenantScopedAdmin):
    list_display = ["number", "company", "client", "status", "issue_date", "due_date", "total", "amount_paid"]
    list_filter = ["status", "currency", "company", "issue_date"]
    search_fields = ["number", "client__display_name", "memo"]
    date_hierarchy = "issue_date"
    list_select_related = ["company", "client"]
    inlines = [InvoiceLineInline, PaymentInline]


@admin.register(Client)
class ClientAdmin(TenantScopedAdmin):
    list_display = ["display_name", "company", "email", "currency", "country", "created_at"]
    list_filter = ["currency", "country", "company"]
    search_fields = ["display_name", "email", "city"]
    list_select_related = ["company"]


@admin.register(Product)
class ProductAdmin(TenantScopedAdmin):
    list_display = ["name", "company", "unit_price", "default_tax_rate", "active"]
    list_filter = ["active", "company"]
    search_fields = ["name", "description"]
    list_select_related = ["company", "default_tax_rate"]


@admin.register(TaxRate)
class TaxRateAdmin(TenantScopedAdmin):
    list_display = ["name", "company", "percent", "taxable"]
    list_filter = ["taxable", "company"]
    search_fields = ["name"]


@admin.register(Payment)
class PaymentAdmin(TenantScopedAdmin):
    list_display = ["invoice", "company", "amount", "date", "method", "source", "external_id"]
    list_filter = ["source", "method", "company", "date"]
    search_fields = ["invoice__number", "reference", "external_id"]
    list_select_related = ["company", "invoice"]
