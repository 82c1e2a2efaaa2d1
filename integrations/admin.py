from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import Q
from django.utils.html import format_html
from django.utils.translation import gettext as _

from attune_qbo.core.admin import TenantScopedAdmin
from attune_qbo.core.pagination import BoundedPaginator
from integrations.models import (
    OAuthState,
    QuickBooksConnection,
    QuickBooksLink,
    QuickBooksMapping,
    QuickBooksSyncLog,
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
    """Read-only: company admins change mappings on Settings → Integrations → QuickBooks → Mapping, which checks
    them against QuickBooks (or with `manage.py quickbooks_map`)."""

    list_display = ["company", "realm_id", "kind", "local_key", "local_name", "qbo_id", "qbo_name", "updated_at"]
    list_filter = ["kind", "company"]
    search_fields = ["local_key", "qbo_id", "qbo_name", "realm_id"]
    fields = ["company", "realm_id", "kind", "local_key", "local_name", "qbo_id", "qbo_name", "updated_at"]
    readonly_fields = fields
    list_select_related = ["company"]

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


SEARCH_LIMIT = 1000  # the sync log's search shows at most this many matches (narrow it with the filters)


class SyncLogPaginator(BoundedPaginator):
    """The admin's list counts at most 10,000 entries ("more than 10,000"; filter to narrow)."""


class CompanyFilter(admin.SimpleListFilter):
    title = "company"
    parameter_name = "company__id__exact"

    def lookups(self, request, model_admin):
        from attune_qbo.tenants.models import Company

        companies = Company.objects.order_by("name")
        if not request.user.is_superuser:
            companies = companies.filter(pk__in=model_admin._scoped_company_ids(request))
        else:  # every company with QuickBooks history has (or had) a connection: an indexed, short list
            companies = companies.filter(quickbooks_connection__isnull=False)
        return [(str(pk), name) for pk, name in companies.values_list("pk", "name")[:200]]

    def queryset(self, request, queryset):
        value = self.value()
        if value and value.isdigit():
            return queryset.filter(company_id=int(value))
        return queryset


@admin.register(QuickBooksSyncLog)
class QuickBooksSyncLogAdmin(TenantScopedAdmin):
    """Staff look at failed syncs here and retry them (select, then "Retry selected syncs")."""

    class Media:
        css = {"all": ["integrations/admin.css"]}

    # Few, short columns: the table fits beside the admin's sidebar on a laptop (details are on each entry).
    list_display = ["created_at", "company", "invoice", "status", "attempts", "error_code", "short_message"]
    # At volume (100,000 rows, bench/pages.py) every filter and the order have an index, the count stops at 10,000
    # (no second count of all rows), dates filter by range without the hierarchy's DISTINCT over every row, and
    # the search matches whole values through indexes (see `get_search_results`).
    list_filter = ["status", "operation", "trigger", ("created_at", admin.DateFieldListFilter), "company"]
    search_fields = ["object_repr", "qbo_id", "intuit_tid", "error_code"]
    search_help_text = "An invoice number, QuickBooks id, Intuit reference (intuit_tid) or error code, exactly."
    sortable_by = ["created_at"]
    show_full_result_count = False
    paginator = SyncLogPaginator
    list_per_page = 25  # rendering each row (with its action checkbox) costs more than reading it
    show_facets = admin.ShowFacets.NEVER  # "Show counts" would count every filter choice over every row
    list_select_related = ["company"]
    actions = ["retry_selected"]
    fields = [
        "company",
        "realm_id",
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
        "drift",
        "rerun_requested",
        "payload",
        "created_at",
        "updated_at",
    ]
    readonly_fields = fields

    def get_list_filter(self, request):
        # The company filter lists the companies this person may see (not a DISTINCT over every log row).
        return [
            CompanyFilter if isinstance(name, tuple) and name[0] == "company" else name
            for name in super().get_list_filter(request)
        ]

    def get_search_results(self, request, queryset, search_term):
        """Whole-value matches on indexed columns (one term, or several separated by spaces), instead of
        `icontains` over every row and every message."""
        terms = [term for term in search_term.split() if term][:5]
        if not terms:
            return queryset, False
        from integrations.models import SyncStatus

        # Error codes sit on problem and retrying rows: with the status the code term uses `synclog_cause_idx`, so
        # every term of the OR has an index (else SQLite reads every row).
        coded = [SyncStatus.PENDING, SyncStatus.RUNNING, SyncStatus.FAILED, SyncStatus.DEAD, SyncStatus.DRIFT]
        match = Q()
        for term in terms:
            match |= Q(object_repr=term) | Q(qbo_id=term) | Q(intuit_tid=term) | Q(status__in=coded, error_code=term)
        # The matching ids first (each term through its index), then the page from those: ordered by date, the
        # planner would rather walk the date index through every row when nothing matches.
        ids = list(queryset.filter(match).order_by().values_list("pk", flat=True)[:SEARCH_LIMIT])
        return queryset.filter(pk__in=ids), False

    def action_checkbox(self, obj):
        # The same <input> Django renders, without a form widget's template per row (a third of the list's time).
        return format_html(
            '<input type="checkbox" name="{}" value="{}" class="action-select" aria-label="{}">',
            helpers.ACTION_CHECKBOX_NAME,
            obj.pk,
            format_html(_("Select this object for an action - {}"), str(obj)),
        )

    @admin.display(description="invoice", ordering="object_repr")
    def invoice(self, obj) -> str:
        label = obj.object_repr or f"#{obj.object_id}"
        return label if obj.operation != "void" else f"{label} (void)"

    @admin.display(description="message")
    def short_message(self, obj) -> str:
        # One line in the list (the full text is in the title and on the entry's page), so rows stay short.
        message = obj.message
        short = message if len(message) <= 60 else message[:59] + "…"  # truncatechars, without its Truncator
        return format_html('<span title="{}">{}</span>', message, short)

    def get_actions(self, request):
        # Read-only admins hide actions behind the change permission; retrying is allowed to staff.
        actions = super().get_actions(request)
        if "retry_selected" not in actions and self.has_module_permission(request):
            actions["retry_selected"] = self.get_action("retry_selected")
        return actions

    @admin.action(description="Retry selected syncs")
    def retry_selected(self, request, queryset):
        from integrations.services.retry import RetryOutcome, sync_retry

        outcomes = (RetryOutcome.QUEUED, RetryOutcome.MOVED_UP, RetryOutcome.RUNNING, RetryOutcome.REFUSED)
        counts = dict.fromkeys(outcomes, 0)
        reasons: list[str] = []
        for entry in queryset:
            result = sync_retry(entry=entry, user=request.user)
            counts[result.outcome] += 1
            if result.outcome == RetryOutcome.REFUSED and len(reasons) < 5:
                reasons.append(result.message)
        queued = counts[RetryOutcome.QUEUED] + counts[RetryOutcome.MOVED_UP]
        skipped = counts[RetryOutcome.RUNNING] + counts[RetryOutcome.REFUSED]
        text = f"{queued} sync(s) queued to retry."
        if skipped:
            text += f" {skipped} skipped"
            parts = []
            if counts[RetryOutcome.RUNNING]:
                parts.append(f"{counts[RetryOutcome.RUNNING]} already being sent")
            if counts[RetryOutcome.REFUSED]:
                parts.append(f"{counts[RetryOutcome.REFUSED]} with nothing to retry")
            text += " (" + ", ".join(parts) + ")."
        self.message_user(request, text, level=messages.SUCCESS if queued else messages.WARNING)
        for reason in reasons:
            self.message_user(request, reason, level=messages.INFO)
