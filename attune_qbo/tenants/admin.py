from django.contrib import admin

from attune_qbo.core.admin import TenantScopedAdmin
from attune_qbo.tenants.models import Company, Membership


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Company)
class CompanyAdmin(TenantScopedAdmin):
    company_lookup = "id"
    read_only = False
    list_display = ["name", "slug", "country", "default_currency", "created_at"]
    list_filter = ["country", "default_currency"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(TenantScopedAdmin):
    read_only = False
    list_display = ["user", "company", "role", "created_at"]
    list_filter = ["role", "company"]
    search_fields = ["user__username", "user__email", "company__name"]
    autocomplete_fields = ["user", "company"]
