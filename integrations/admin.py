from django.contrib import admin, messages

from attune_qbo.core.admin import TenantScopedAdmin
from integrations.models import (
    OAuthState,
    QuickBooksConnection,
    QuickBooksLink,
    QuickBooksMapping,
    QuickBooksSyncLog,
    SyncStatus,
)


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


@admin.register(QuickBooksMapping)
class QuickBooksMappingAdmin(TenantScopedAdmin):
    """Until the mapping pages exist, company admins set mappings here (or with `manage.py quickbooks_map`)."""

    read_only = False
    editable_by_company_admins = True
    list_display = ["company", "realm_id", "kind", "local_key", "local_name", "qbo_id", "qbo_name", "updated_at"]
    list_filter = ["kind", "company"]
    search_fields = ["local_key", "qbo_id", "qbo_name", "realm_id"]
    fields = ["company", "realm_id", "kind", "local_key", "qbo_id", "qbo_name"]

    def save_model(self, request, obj, form, change):
        if not obj.realm_id:  # a mapping belongs to the QuickBooks company connected now
            from integrations.models import QuickBooksConnection

            connection = QuickBooksConnection.objects.filter(company_id=obj.company_id).first()
            obj.realm_id = connection.realm_id if connection else ""
        super().save_model(request, obj, form, change)

    @admin.display(description="ours")
    def local_name(self, obj) -> str:
        from attune_qbo.billing.models import Product, TaxRate

        model = {"item": Product, "tax_code": TaxRate, "sales_tax_code": TaxRate}.get(obj.kind)
        if obj.local_key == "default" or model is None:
            return "(default)" if obj.local_key == "default" else ""
        return str(model.objects.filter(pk=obj.local_key, company_id=obj.company_id).first() or "?")


@admin.register(QuickBooksLink)
class QuickBooksLinkAdmin(TenantScopedAdmin):
    list_display = ["company", "object_type", "object_id", "qbo_id", "sync_token", "voided", "realm_id", "updated_at"]
    list_filter = ["object_type", "voided", "company"]
    search_fields = ["qbo_id", "object_id", "realm_id"]
    readonly_fields = [
        "company",
        "realm_id",
        "object_type",
        "object_id",
        "qbo_id",
        "sync_token",
        "payload_hash",
        "voided",
        "created_at",
        "updated_at",
    ]
    fields = readonly_fields


@admin.register(QuickBooksSyncLog)
class QuickBooksSyncLogAdmin(TenantScopedAdmin):
    """Staff look at failed syncs here and retry them (select, then "Retry selected syncs")."""

    list_display = [
        "created_at",
        "company",
        "entity_type",
        "object_repr",
        "operation",
        "status",
        "attempts",
        "error_code",
        "short_message",
        "next_attempt_at",
    ]
    list_filter = ["status", "operation", "trigger", "company"]
    search_fields = ["object_repr", "qbo_id", "intuit_tid", "error_code", "message"]
    date_hierarchy = "created_at"
    list_select_related = ["company"]
    actions = ["retry_selected"]
    fields = [
        "company",
        "entity_type",
        "object_id",
        "object_repr",
        "operation",
        "status",
        "trigger",
        "triggered_by",
        "attempts",
        "throttled",
        "generation",
        "next_attempt_at",
        "started_at",
        "finished_at",
        "qbo_id",
        "intuit_tid",
        "error_code",
        "message",
        "payload",
        "created_at",
        "updated_at",
    ]
    readonly_fields = fields

    @admin.display(description="message")
    def short_message(self, obj) -> str:
        return obj.message[:120]

    def get_actions(self, request):
        # Read-only admins hide actions behind the change permission; retrying is allowed to staff.
        actions = super().get_actions(request)
        if "retry_selected" not in actions and self.has_module_permission(request):
            actions["retry_selected"] = self.get_action("retry_selected")
        return actions

    @admin.action(description="Retry selected syncs")
    def retry_selected(self, request, queryset):
        from attune_qbo.core.exceptions import ApplicationError
        from integrations.services.sync import sync_retry

        retried = 0
        for entry in queryset.filter(status__in=[SyncStatus.FAILED, SyncStatus.DEAD]):
            try:
                sync_retry(entry=entry, user=request.user)
                retried += 1
            except ApplicationError as error:
                self.message_user(request, f"{entry}: {error.message}", level=messages.ERROR)
        skipped = queryset.count() - retried
        self.message_user(
            request,
            f"{retried} sync(s) queued to retry."
            + (f" {skipped} skipped (only failed or dead syncs can be retried)." if skipped else ""),
        )
