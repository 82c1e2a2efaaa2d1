from django.urls import path

from integrations import views

app_name = "integrations"
urlpatterns = [
    path("quickbooks/", views.quickbooks_settings, name="quickbooks-settings"),
    path("quickbooks/status-pill/", views.quickbooks_status_pill, name="quickbooks-status-pill"),
    path("quickbooks/chart/", views.quickbooks_chart, name="quickbooks-chart"),
    path("quickbooks/connect/", views.quickbooks_connect, name="quickbooks-connect"),
    path("quickbooks/disconnect/", views.quickbooks_disconnect, name="quickbooks-disconnect"),
    path("quickbooks/company-settings/", views.quickbooks_refresh_company, name="quickbooks-refresh-company"),
    path("quickbooks/send-never-sent/", views.quickbooks_send_never_sent, name="quickbooks-send-never-sent"),
    path("quickbooks/initial-sync/", views.quickbooks_initial_sync, name="quickbooks-initial-sync"),
    path("quickbooks/mapping/", views.quickbooks_mapping, name="quickbooks-mapping"),
    path("quickbooks/mapping/options/", views.quickbooks_mapping_options, name="quickbooks-mapping-options"),
    path("quickbooks/mapping/refresh/", views.quickbooks_mapping_refresh, name="quickbooks-mapping-refresh"),
    path("quickbooks/mapping/items/", views.quickbooks_mapping_create_item, name="quickbooks-mapping-create-item"),
    path(
        "quickbooks/mapping/retry-blocked/",
        views.quickbooks_mapping_retry_blocked,
        name="quickbooks-mapping-retry-blocked",
    ),
    path("quickbooks/activity/", views.quickbooks_activity, name="quickbooks-activity"),
    path("quickbooks/activity/<int:pk>/retry/", views.quickbooks_activity_retry, name="quickbooks-activity-retry"),
    path(
        "quickbooks/activity/retry-failed/",
        views.quickbooks_activity_retry_failed,
        name="quickbooks-activity-retry-failed",
    ),
    path("quickbooks/adoption/", views.quickbooks_adoption, name="quickbooks-adoption"),
    path("quickbooks/adoption/check/", views.quickbooks_adoption_check, name="quickbooks-adoption-check"),
    path("quickbooks/adoption/apply/", views.quickbooks_adoption_apply, name="quickbooks-adoption-apply"),
    path("quickbooks/adoption/policy/", views.quickbooks_adoption_policy, name="quickbooks-adoption-policy"),
    path("quickbooks/reconciliation/", views.quickbooks_reconciliation, name="quickbooks-reconciliation"),
    path(
        "quickbooks/reconciliation/check/",
        views.quickbooks_reconciliation_check,
        name="quickbooks-reconciliation-check",
    ),
    path("quickbooks/reconciliation.csv", views.quickbooks_reconciliation_csv, name="quickbooks-reconciliation-csv"),
    path(
        "quickbooks/reconciliation/<int:review_id>/rows/<int:index>/fix/",
        views.quickbooks_reconciliation_fix,
        name="quickbooks-reconciliation-fix",
    ),
    path("quickbooks/invoices/<int:invoice_id>/sync/", views.quickbooks_invoice_sync, name="quickbooks-invoice-sync"),
    path(
        "quickbooks/invoices/<int:invoice_id>/panel/", views.quickbooks_invoice_panel, name="quickbooks-invoice-panel"
    ),
    path("quickbooks/backfill/", views.quickbooks_backfill, name="quickbooks-backfill"),
    path("quickbooks/backfill/progress/", views.quickbooks_backfill_progress, name="quickbooks-backfill-progress"),
]

# Exports (CSV for QuickBooks Online's import, IIF for QuickBooks Desktop): integrations/exports/views.py.
from integrations.exports import views as export_views  # noqa: E402

urlpatterns += [
    path("quickbooks/exports/", export_views.quickbooks_exports, name="quickbooks-exports"),
    path("quickbooks/exports/download/", export_views.quickbooks_exports_download, name="quickbooks-exports-download"),
    path(
        "quickbooks/exports/customers.csv",
        export_views.quickbooks_exports_customers,
        name="quickbooks-exports-customers",
    ),
    path(
        "quickbooks/exports/<int:export_id>/download/",
        export_views.quickbooks_export_again,
        name="quickbooks-export-again",
    ),
]

# QuickBooks Desktop (Web Connector): the settings page and the QBWC SOAP endpoint.
from integrations.quickbooks.desktop import views as desktop_views  # noqa: E402

urlpatterns += [
    path("quickbooks/desktop/", desktop_views.desktop_settings, name="quickbooks-desktop"),
    path("quickbooks/desktop/connect/", desktop_views.desktop_connect, name="quickbooks-desktop-connect"),
    path("quickbooks/desktop/password/", desktop_views.desktop_new_password, name="quickbooks-desktop-password"),
    path("quickbooks/desktop/disconnect/", desktop_views.desktop_disconnect, name="quickbooks-desktop-disconnect"),
    path("quickbooks/desktop/send-all/", desktop_views.desktop_send_all, name="quickbooks-desktop-send-all"),
    path("quickbooks/desktop/retry/<int:pk>/", desktop_views.desktop_retry, name="quickbooks-desktop-retry"),
    path("quickbooks/desktop/attune.qwc", desktop_views.desktop_qwc, name="quickbooks-desktop-qwc"),
    path("quickbooks/desktop/mapping/", desktop_views.desktop_mapping, name="quickbooks-desktop-mapping"),
    path(
        "quickbooks/desktop/mapping/suggestions/",
        desktop_views.desktop_mapping_suggestions,
        name="quickbooks-desktop-mapping-suggestions",
    ),
    path(
        "quickbooks/desktop/mapping/retry-blocked/",
        desktop_views.desktop_mapping_retry_blocked,
        name="quickbooks-desktop-mapping-retry-blocked",
    ),
    path("quickbooks/desktop/qbwc/", desktop_views.qbwc_endpoint, name="quickbooks-desktop-qbwc"),
]
