from django.urls import path

from attune_qbo.billing import views

app_name = "billing"
urlpatterns = [
    path("invoices/", views.invoice_list, name="invoice-list"),
    path("invoices/new/", views.invoice_create, name="invoice-create"),
    path("invoices/<int:pk>/", views.invoice_detail, name="invoice-detail"),
    path("invoices/<int:pk>/edit/", views.invoice_edit, name="invoice-edit"),
    path("invoices/<int:pk>/finalize/", views.invoice_finalize, name="invoice-finalize"),
    path("invoices/<int:pk>/void/", views.invoice_void, name="invoice-void"),
    path("invoices/<int:pk>/payments/", views.invoice_record_payment, name="invoice-record-payment"),
    path(
        "invoices/<int:pk>/payments/<int:payment_id>/remove/",
        views.invoice_remove_payment,
        name="invoice-remove-payment",
    ),
    path("clients/", views.client_list, name="client-list"),
    path("clients/new/", views.client_edit, name="client-create"),
    path("clients/<int:pk>/", views.client_edit, name="client-edit"),
    path("products/", views.product_list, name="product-list"),
    path("products/new/", views.product_edit, name="product-create"),
    path("products/<int:pk>/", views.product_edit, name="product-edit"),
    path("tax-rates/", views.tax_rate_list, name="tax-rate-list"),
    path("tax-rates/new/", views.tax_rate_edit, name="tax-rate-create"),
    path("tax-rates/<int:pk>/", views.tax_rate_edit, name="tax-rate-edit"),
]
