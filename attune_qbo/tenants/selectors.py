"""Reads about tenancy. The current company is always one the user is a member of."""

from __future__ import annotations

from attune_qbo.tenants.models import Company, Membership

SESSION_COMPANY_KEY = "current_company_id"


def membership_for(*, user, company_id: int | str | None = None) -> Membership | None:
    """The user's membership in `company_id`, or (without it) in their first company; None if none."""
    if user is None or not user.is_authenticated:
        return None
    memberships = Membership.objects.select_related("company").filter(user=user).order_by("company_id")
    if company_id not in (None, ""):
        try:
            return memberships.filter(company_id=int(company_id)).first()
        except (TypeError, ValueError):
            return None
    return memberships.first()


def companies_for(*, user) -> list[Company]:
    if user is None or not user.is_authenticated:
        return []
    return [m.company for m in Membership.objects.select_related("company").filter(user=user)]


def company_ids_for(*, user, minimum_role: str | None = None) -> list[int]:
    if user is None or not user.is_authenticated:
        return []
    memberships = Membership.objects.filter(user=user)
    return [m.company_id for m in memberships if minimum_role is None or m.has_role(minimum_role)]
