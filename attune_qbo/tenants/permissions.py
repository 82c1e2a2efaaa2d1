"""Who may do what, in one place: plain helpers for pages and services, DRF classes for the API.

Roles nest (admin ⊃ staff ⊃ member):
- member: sees the company's invoices, clients and products; creates and edits drafts, clients, products.
- staff: also finalizes invoices, records payments, sees and retries QuickBooks syncs.
- admin: also voids invoices, manages tax rates, connects/disconnects QuickBooks and edits mappings.
"""

from __future__ import annotations

from rest_framework.permissions import BasePermission

from attune_qbo.tenants.models import Membership, Role
from attune_qbo.tenants.selectors import membership_for


def _membership(user, company) -> Membership | None:
    if company is None or user is None or not user.is_authenticated:
        return None
    return Membership.objects.filter(user=user, company=company).first()


def has_company_role(user, company, minimum: str) -> bool:
    membership = _membership(user, company)
    return membership is not None and membership.has_role(minimum)


def is_company_member(user, company) -> bool:
    return has_company_role(user, company, Role.MEMBER)


def is_company_staff(user, company) -> bool:
    return has_company_role(user, company, Role.STAFF)


def is_company_admin(user, company) -> bool:
    return has_company_role(user, company, Role.ADMIN)


def resolve_api_membership(request) -> Membership | None:
    """The caller's membership for this API request: `X-Company-Id` header if given, else the session's
    company, else the user's first company. Cached on the request."""
    if not hasattr(request, "_api_membership"):
        from attune_qbo.tenants.models import ApiToken

        token = getattr(request, "auth", None)
        requested = request.headers.get("X-Company-Id")
        if isinstance(token, ApiToken):
            # A company API token works in its own company only (X-Company-Id may name it, nothing else).
            if requested not in (None, "", str(token.company_id)):
                request._api_membership = None
                return None
            request._api_membership = membership_for(user=request.user, company_id=token.company_id)
            return request._api_membership
        if requested is None and hasattr(request, "session"):
            from attune_qbo.tenants.selectors import SESSION_COMPANY_KEY

            requested = request.session.get(SESSION_COMPANY_KEY)
        request._api_membership = membership_for(user=request.user, company_id=requested)
    return request._api_membership


class _HasCompanyRole(BasePermission):
    minimum_role = Role.MEMBER
    message = "Your role in this company does not allow this action."

    def has_permission(self, request, view) -> bool:
        if not request.user or not request.user.is_authenticated:
            return False
        membership = resolve_api_membership(request)
        if membership is None:
            self.message = "You are not a member of any company."
            return False
        return membership.has_role(self.minimum_role)


class IsCompanyMember(_HasCompanyRole):
    minimum_role = Role.MEMBER


class IsCompanyStaff(_HasCompanyRole):
    minimum_role = Role.STAFF
    message = "This action needs the staff or admin role in this company."


class IsCompanyAdmin(_HasCompanyRole):
    minimum_role = Role.ADMIN
    message = "This action needs the admin role in this company."
