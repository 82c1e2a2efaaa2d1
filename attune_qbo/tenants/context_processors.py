from attune_qbo.tenants.selectors import companies_for


def current_company(request):
    membership = getattr(request, "membership", None)
    membership = membership if membership else None  # unwrap a lazy None
    return {
        "current_membership": membership,
        "current_company": membership.company if membership else None,
        "user_companies": (lambda: companies_for(user=request.user)),
    }
