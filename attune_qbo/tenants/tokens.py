"""API tokens: created and revoked by company admins (Settings → API tokens), stored hashed, shown once."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from attune_qbo.audit.services import audit_record
from attune_qbo.core.exceptions import NotAllowed, ValidationError
from attune_qbo.tenants.models import ApiToken, Role
from attune_qbo.tenants.permissions import has_company_role

KEY_PREFIX = "att_"


def hash_key(key: str) -> str:
    """SHA-256 is enough for a 256-bit random key (no password to stretch); only this is stored."""
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class NewToken:
    token: ApiToken
    key: str  # shown once; never stored


def api_token_create(*, company, user, name: str) -> NewToken:
    """Make a key for `company` that acts as `user` (a company admin). Returns the key once."""
    if not has_company_role(user, company, Role.ADMIN):
        raise NotAllowed("Only an admin of the company can create API tokens.")
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ValidationError("Give the token a name of at most 100 characters.", extra={"field": "name"})
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken.objects.create(company=company, user=user, name=name, prefix=key[:10], key_hash=hash_key(key))
        audit_record(action="api_token.create", company=company, actor=user, target=token, details={"name": name})
    return NewToken(token=token, key=key)


def api_token_revoke(*, token: ApiToken, user) -> ApiToken:
    if not has_company_role(user, token.company, Role.ADMIN):
        raise NotAllowed("Only an admin of the company can revoke API tokens.")
    if token.revoked_at is None:
        with transaction.atomic():
            token.revoked_at, token.revoked_by = timezone.now(), user
            token.save(update_fields=["revoked_at", "revoked_by", "updated_at"])
            audit_record(
                action="api_token.revoke", company=token.company, actor=user, target=token, details={"name": token.name}
            )
    return token


def api_token_for_key(key: str) -> ApiToken | None:
    """The active token with this key (looked up by hash), or None."""
    if not key or len(key) > 200:
        return None
    return ApiToken.objects.active().select_related("user", "company").filter(key_hash=hash_key(key)).first()


def api_token_list(*, company):
    return ApiToken.objects.filter(company=company).select_related("user", "revoked_by")
