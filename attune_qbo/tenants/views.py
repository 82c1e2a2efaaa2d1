"""Page helpers shared by every tenant-scoped page, and the company switcher."""

from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from attune_qbo.tenants.models import Role
from attune_qbo.tenants.selectors import SESSION_COMPANY_KEY, membership_for


def company_required(minimum_role: str = Role.MEMBER):
    """Page decorator: logged in, a member of a company, with at least `minimum_role` there.

    The view receives `request.company` / `request.membership` already resolved.
    """

    def decorator(view):
        @login_required
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            membership = request.membership if request.membership else None
            if membership is None:
                raise PermissionDenied("You are not a member of any company yet. Ask an admin to invite you.")
            if not membership.has_role(minimum_role):
                raise PermissionDenied(f"This page needs the {Role(minimum_role).label.lower()} role.")
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


@login_required
@require_POST
def company_switch(request):
    membership = membership_for(user=request.user, company_id=request.POST.get("company_id"))
    if membership is None:
        messages.error(request, "You are not a member of that company.")
    else:
        request.session[SESSION_COMPANY_KEY] = membership.company_id
        messages.success(request, f"Now working in {membership.company.name}.")
    target = request.POST.get("next") or "/"
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = "/"
    return redirect(target)
