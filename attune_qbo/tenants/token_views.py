"""Settings → API tokens: company admins create keys (shown once) and revoke them."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from attune_qbo.core.exceptions import ApplicationError
from attune_qbo.tenants.models import ApiToken, Role
from attune_qbo.tenants.tokens import api_token_create, api_token_list, api_token_revoke
from attune_qbo.tenants.views import company_required


class ApiTokenForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        help_text="What the key is for, so you recognise it later (e.g. “nightly export”).",
        widget=forms.TextInput(attrs={"placeholder": "nightly export", "autocomplete": "off"}),
    )


@company_required(Role.ADMIN)
def api_tokens(request):
    """GET lists the company's keys; POST creates one and shows it once (never stored, never shown again)."""
    form = ApiTokenForm(request.POST or None)
    new_key = None
    if request.method == "POST" and form.is_valid():
        try:
            created = api_token_create(company=request.company, user=request.user, name=form.cleaned_data["name"])
            new_key = created.key
            form = ApiTokenForm()
        except ApplicationError as error:
            form.add_error("name", error.message)
    response = render(
        request,
        "settings/api_tokens.html",
        {"form": form, "tokens": api_token_list(company=request.company), "new_key": new_key},
    )
    response["Cache-Control"] = "no-store"  # the page with a fresh key must not be kept by the browser
    return response


@require_POST
@company_required(Role.ADMIN)
def api_token_revoke_view(request, pk: int):
    token = get_object_or_404(ApiToken.objects.filter(company=request.company), pk=pk)
    try:
        api_token_revoke(token=token, user=request.user)
        messages.success(request, f"API token “{token.name}” revoked: it no longer works.")
    except ApplicationError as error:
        messages.error(request, error.message)
    return redirect("api-tokens")
