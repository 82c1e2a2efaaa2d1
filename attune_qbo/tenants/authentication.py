"""`Authorization: Token <key>` (or `Bearer <key>`) with hashed company API tokens; wrong keys are limited
per client address so nobody can guess keys by brute force."""

from __future__ import annotations

import time

from django.core.cache import cache
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication, get_authorization_header
from rest_framework.throttling import SimpleRateThrottle

from attune_qbo.core.throttling import _SettingsRates
from attune_qbo.tenants.tokens import api_token_for_key


class TokenFailureLimit(_SettingsRates, SimpleRateThrottle):
    """Counts wrong keys per client address (`API_THROTTLE_RATES["token-failures"]`)."""

    scope = "token-failures"

    def get_cache_key(self, request, view=None):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}

    def _history(self, request) -> tuple[str, list[float]]:
        key = self.get_cache_key(request)
        now = time.time()
        return key, [moment for moment in cache.get(key, []) if moment > now - self.duration]

    def wait_if_blocked(self, request) -> float | None:
        if self.rate is None:
            return None
        _, history = self._history(request)
        if len(history) >= self.num_requests:
            return max(0.0, self.duration - (time.time() - history[-1]))
        return None

    def record_failure(self, request) -> None:
        if self.rate is None:
            return
        key, history = self._history(request)
        cache.set(key, [time.time(), *history][: self.num_requests + 1], self.duration)


class ApiTokenAuthentication(TokenAuthentication):
    keyword = "Token"

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() not in (b"token", b"bearer"):
            return None
        limit = TokenFailureLimit()
        wait = limit.wait_if_blocked(request)
        if wait is not None:
            raise exceptions.Throttled(wait=wait, detail="Too many wrong API tokens from this address.")
        if len(parts) != 2:
            limit.record_failure(request)
            raise exceptions.AuthenticationFailed("Invalid token header: give the key after “Token ”.")
        try:
            key = parts[1].decode()
        except UnicodeError:
            limit.record_failure(request)
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        token = api_token_for_key(key)
        if token is None or not token.user.is_active:
            limit.record_failure(request)
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        if token.last_used_at is None or (timezone.now() - token.last_used_at).total_seconds() > 60:
            type(token).objects.filter(pk=token.pk).update(last_used_at=timezone.now())
        return token.user, token

    def authenticate_header(self, request):
        return self.keyword
