from rest_framework.routers import SimpleRouter

from attune_qbo.billing.api import views


class OptionalSlashRouter(SimpleRouter):
    """`/api/v1/invoices` and `/api/v1/invoices/` both work (the integration endpoints have no slash)."""

    def __init__(self):
        super().__init__()
        self.trailing_slash = "/?"


router = OptionalSlashRouter()
router.register("invoices", views.InvoiceViewSet, basename="api-invoice")
router.register("clients", views.ClientViewSet, basename="api-client")
router.register("products", views.ProductViewSet, basename="api-product")
router.register("tax-rates", views.TaxRateViewSet, basename="api-tax-rate")

urlpatterns = router.urls
