from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.views import redirect_to_login
from django.urls import URLResolver, include, path
from django.urls.exceptions import Resolver404
from django.urls.resolvers import RoutePattern
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from attune_qbo.core.views import settings_index
from attune_qbo.tenants.token_views import api_token_revoke_view, api_tokens
from attune_qbo.tenants.views import company_switch

_swagger = SpectacularSwaggerSplitView.as_view(url_name="api-schema")  # no inline script: CSP-compatible


def api_docs(request, *args, **kwargs):
    """Swagger UI; with API_DOCS_REQUIRE_SIGN_IN a visitor who is not signed in goes to the sign-in page."""
    if settings.API_DOCS_REQUIRE_SIGN_IN and not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    return _swagger(request, *args, **kwargs)


api_v1 = [
    path("", include("attune_qbo.billing.api.urls")),
    path("integrations/quickbooks/", include("integrations.api.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", api_docs, name="api-docs"),
]

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="billing:invoice-list", permanent=False)),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("company/switch/", company_switch, name="company-switch"),
    path("settings/", settings_index, name="settings"),
    path("settings/api-tokens/", api_tokens, name="api-tokens"),
    path("settings/api-tokens/<int:pk>/revoke/", api_token_revoke_view, name="api-token-revoke"),
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


def handler404(request, exception=None):
    """JSON `{code, message}` under /api/ (an unknown API path), the usual page elsewhere."""
    from django.views.defaults import page_not_found

    from attune_qbo.core.middleware import is_api_request

    if is_api_request(request):
        from django.http import JsonResponse

        return JsonResponse({"code": "not_found", "message": "Not found."}, status=404)
    return page_not_found(request, exception)


def handler500(request):
    """JSON with a reference id under /api/; a page with the same reference elsewhere."""
    import logging

    from django.http import JsonResponse
    from django.shortcuts import render

    from attune_qbo.core.api import new_reference
    from attune_qbo.core.middleware import is_api_request

    reference = new_reference()
    logging.getLogger("attune.request").error(
        "request.server_error reference=%s path=%s", reference, request.path, exc_info=True
    )
    message = f"Something went wrong on our side. Quote reference {reference} if you contact support."
    if is_api_request(request):
        return JsonResponse({"code": "server_error", "message": message, "reference": reference}, status=500)
    try:
        return render(request, "error.html", {"status": 500, "message": message, "reference": reference}, status=500)
    except Exception:  # noqa: BLE001 - the error page itself must not fail
        from django.http import HttpResponseServerError

        return HttpResponseServerError(message)
