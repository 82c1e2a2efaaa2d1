from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import URLResolver, include, path
from django.urls.exceptions import Resolver404
from django.urls.resolvers import RoutePattern
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from attune_qbo.core.views import settings_index
from attune_qbo.tenants.views import company_switch

api_v1 = [
    path("", include("attune_qbo.billing.api.urls")),
    path("integrations/quickbooks/", include("integrations.api.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="billing:invoice-list", permanent=False)),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("company/switch/", company_switch, name="company-switch"),
    path("settings/", settings_index, name="settings"),
    path("settings/integrations/", include("integrations.urls")),
    path("", include("attune_qbo.billing.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
]


class SimulatorOnlyResolver(URLResolver):
    """The offline QuickBooks answers only while QUICKBOOKS_ENVIRONMENT is `simulator`, checked on every
    request (a deployment, or a test, that switches to sandbox/production never reaches it). In production
    the app is not even installed."""

    def resolve(self, path):
        if settings.QUICKBOOKS_ENVIRONMENT != "simulator":
            raise Resolver404({"path": path, "tried": []})
        return super().resolve(path)


if apps.is_installed("integrations.simulator"):
    urlconf_module, app_name, namespace = include("integrations.simulator.urls")
    urlpatterns.append(
        SimulatorOnlyResolver(RoutePattern("simulator/"), urlconf_module, app_name=app_name, namespace=namespace)
    )
