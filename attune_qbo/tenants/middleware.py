"""Resolve the current company for page requests and keep it on `request.company` / `request.membership`.

API requests authenticated by token are resolved inside DRF (`permissions.resolve_api_membership`),
because token authentication happens after middleware.
"""

from django.utils.functional import SimpleLazyObject

from attune_qbo.tenants.selectors import SESSION_COMPANY_KEY, membership_for


class CurrentCompanyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        def _membership():
            if not hasattr(request, "_page_membership"):
                requested = request.session.get(SESSION_COMPANY_KEY) if hasattr(request, "session") else None
                membership = membership_for(user=request.user, company_id=requested)
                if membership is None and requested is not None:
                    membership = membership_for(user=request.user)  # stale session choice: fall back
                request._page_membership = membership
            return request._page_membership

        request.membership = SimpleLazyObject(_membership)
        request.company = SimpleLazyObject(lambda: _membership().company if _membership() else None)
        return self.get_response(request)
