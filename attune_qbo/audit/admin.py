from django.contrib import admin

from attune_qbo.audit.models import AuditLog
from attune_qbo.core.admin import TenantScopedAdmin


@admin.register(AuditLog)
class AuditLogAdmin(TenantScopedAdmin):
    list_display = ["created_at", "company", "actor", "action", "target_type", "target_id", "outcome"]
    list_filter = ["outcome", "action", "company"]
    search_fields = ["action", "message", "target_id", "actor__username"]
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in AuditLog._meta.fields]
