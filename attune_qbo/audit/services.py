from __future__ import annotations

import logging
from typing import Any

from attune_qbo.audit.models import AuditLog
from attune_qbo.audit.redaction import redact, redact_text

logger = logging.getLogger("attune.audit")


def audit_record(
    *,
    action: str,
    company=None,
    actor=None,
    target=None,
    outcome: str = AuditLog.Outcome.SUCCESS,
    message: str = "",
    details: dict[str, Any] | None = None,
) -> AuditLog:
    """Append an audit entry. `details` pass through redaction, so a careless caller cannot store a token."""
    entry = AuditLog.objects.create(
        company=company,
        actor=actor if actor is not None and getattr(actor, "is_authenticated", False) else None,
        action=action,
        target_type=type(target).__name__ if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        outcome=outcome,
        message=redact_text(message),
        details=redact(details or {}),
    )
    logger.info(
        "audit.%s company=%s outcome=%s target=%s:%s",
        action,
        getattr(company, "pk", None),
        outcome,
        entry.target_type,
        entry.target_id,
    )
    return entry
