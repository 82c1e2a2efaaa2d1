from django.contrib import admin

from attune_qbo.core.admin import TenantScopedAdmin
from integrations.models import OAuthState, QuickBooksConnection


@admin.register(QuickBooksConnection)
class QuickBooksConnectionAdmin(TenantScopedAdmin):
    """Token ciphers are never shown, not even truncated: only whether one is stored."""

    list_display = [
        "company",
        "status",
        "realm_id",
        "qbo_company_name",
        "environment",
        "access_token_expires_at",
        "last_refreshed_at",
        "last_synced_at",
    ]
    list_filter = ["status", "environment"]
    search_fields = ["company__name", "realm_id", "qbo_company_name"]
    list_select_related = ["company"]
    fields = [
        "company",
        "status",
        "realm_id",
        "environment",
        "qbo_company_name",
        "qbo_country",
        "scopes",
        "tokens_stored",
        "access_token_expires_at",
        "refresh_token_expires_at",
        "refresh_token_hard_expires_at",
        "connected_by",
        "connected_at",
        "disconnected_at",
        "last_refreshed_at",
        "last_synced_at",
        "last_intuit_tid",
        "last_error",
    ]
    readonly_fields = fields

    @admin.display(description="tokens stored", boolean=True)
    def tokens_stored(self, obj) -> bool:
        return obj.refresh_token_cipher is not None


@admin.register(OAuthState)
class OAuthStateAdmin(TenantScopedAdmin):
    list_display = ["company", "user", "environment", "created_at", "expires_at", "used_at"]
    list_filter = ["environment"]
    fields = ["company", "user", "environment", "redirect_uri", "created_at", "expires_at", "used_at"]
    readonly_fields = fields
