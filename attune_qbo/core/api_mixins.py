"""Shared pieces of every tenant-scoped API view."""

from __future__ import annotations

from functools import cached_property

from rest_framework.exceptions import PermissionDenied

from attune_qbo.tenants.permissions import resolve_api_membership


class CompanyScopedAPIMixin:
    # `self.company` is the caller's current company (the permission classes guarantee membership).
    # Querysets must be filtered by it; another company's object is then a plain 404.
    # (Comments, not a docstring: drf-spectacular would publish a docstring as the endpoint's description.)

    @cached_property
    def membership(self):
        membership = resolve_api_membership(self.request)
        if membership is None:
            raise PermissionDenied("You are not a member of any company.")
        return membership

    @property
    def company(self):
        return self.membership.company

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if self.request is not None and self.request.user.is_authenticated:
            context["company"] = self.company
        return context
