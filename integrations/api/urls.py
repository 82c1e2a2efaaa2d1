from django.urls import path

from integrations.api import views
from integrations.views import quickbooks_callback

urlpatterns = [
    path("connect", views.ConnectView.as_view(), name="api-quickbooks-connect"),
    # Intuit redirects the browser here: a plain Django view (no API token on that request).
    path("callback", quickbooks_callback, name="api-quickbooks-callback"),
    path("disconnect", views.DisconnectView.as_view(), name="api-quickbooks-disconnect"),
    path("status", views.StatusView.as_view(), name="api-quickbooks-status"),
    path("sync/<int:invoice_id>", views.SyncInvoiceView.as_view(), name="api-quickbooks-sync"),
    path("reconciliation", views.ReconciliationView.as_view(), name="api-quickbooks-reconciliation"),
    path(
        "reconciliation.csv",
        views.ReconciliationView.as_view(),
        {"format": "csv"},
        name="api-quickbooks-reconciliation-csv",
    ),
    path(
        "reconciliation/<int:review_id>/rows/<int:index>/fix",
        views.ReconciliationFixView.as_view(),
        name="api-quickbooks-reconciliation-fix",
    ),
    path("sync-logs", views.SyncLogListView.as_view(), name="api-quickbooks-sync-logs"),
    # Intuit posts webhooks here: a plain csrf-exempt view (no auth but the signature; any content type).
    path("webhooks", views.quickbooks_webhook, name="api-quickbooks-webhooks"),
    path("sync-logs/<int:pk>/retry", views.SyncLogRetryView.as_view(), name="api-quickbooks-sync-log-retry"),
    path("backfill", views.BackfillView.as_view(), name="api-quickbooks-backfill"),
    path("backfill/<int:pk>", views.BackfillDetailView.as_view(), name="api-quickbooks-backfill-detail"),
]

# Exports: integrations/api/exports.py.
from integrations.api import exports  # noqa: E402

urlpatterns += [
    path("exports", exports.ExportListView.as_view(), name="api-quickbooks-exports"),
    path("exports/csv", exports.CsvExportView.as_view(), name="api-quickbooks-exports-csv"),
    path("exports/iif", exports.IifExportView.as_view(), name="api-quickbooks-exports-iif"),
    path("exports/<int:pk>", exports.ExportDetailView.as_view(), name="api-quickbooks-export"),
    path("exports/<int:pk>/download", exports.ExportDownloadView.as_view(), name="api-quickbooks-export-download"),
]
