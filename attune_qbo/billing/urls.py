from django.urls import path  # noqa: F401
from django.views.generic import TemplateView

app_name = "billing"
urlpatterns = [path("invoices/", TemplateView.as_view(template_name="base.html"), name="invoice-list")]
