from django.urls import path

from integrations import views

app_name = "integrations"
urlpatterns = [
    path("quickbooks/", views.quickbooks_settings, name="quickbooks-settings"),
    path("quickbooks/status-pill/", views.quickbooks_status_pill, name="quickbooks-status-pill"),
    path("quickbooks/connect/", views.quickbooks_connect, name="quickbooks-connect"),
    path("quickbooks/disconnect/", views.quickbooks_disconnect, name="quickbooks-disconnect"),
    path("quickbooks/invoices/<int:invoice_id>/sync/", views.quickbooks_invoice_sync, name="quickbooks-invoice-sync"),
]
