from django.shortcuts import render

from attune_qbo.core.integrations import available_integrations
from attune_qbo.tenants.views import company_required


@company_required()
def settings_index(request):
    """Settings, with the Integrations section listing every integration the product offers."""
    return render(request, "settings/index.html", {"integrations": available_integrations(request)})
