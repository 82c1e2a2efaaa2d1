"""API throttles. Rates come from `settings.API_THROTTLE_RATES` and are read on every request (not frozen
at import like DRF's defaults), so deployments and tests can change them."""

from __future__ import annotations

from django.conf import settings
from rest_framework.throttling import AnonRateThrottle, ScopedRateThrottle, UserRateThrottle


class _SettingsRates:
    def get_rate(self):
        return settings.API_THROTTLE_RATES.get(self.scope)


class AnonymousThrottle(_SettingsRates, AnonRateThrottle):
    """Per client IP, for requests without credentials."""

    scope = "anon"


class UserThrottle(_SettingsRates, UserRateThrottle):
    """Per signed-in user (token or session); per IP otherwise."""

    scope = "user"


class ScopedThrottle(_SettingsRates, ScopedRateThrottle):
    """Per user and per view's `throttle_scope` (e.g. `quickbooks-connect`, `quickbooks-sync`)."""

    def allow_request(self, request, view):
        self.scope = getattr(view, self.scope_attr, None)
        if not self.scope:
            return True
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super(ScopedRateThrottle, self).allow_request(request, view)
