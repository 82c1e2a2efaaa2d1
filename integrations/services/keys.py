"""Key rotation for the token ciphers at rest."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import transaction

from integrations.fields import Sealed, TokenDecryptionError, is_under_newest_key, rotate
from integrations.models import OAuthState, QuickBooksConnection

logger = logging.getLogger("qbo.keys")

ENCRYPTED_FIELDS = (
    (QuickBooksConnection, ("access_token_cipher", "refresh_token_cipher")),
    (OAuthState, ("code_verifier_cipher",)),
)


@dataclass
class RotationReport:
    rows: int = 0
    ciphers: int = 0
    were_under_older_key: int = 0
    undecryptable: int = 0


def token_keys_rotate() -> RotationReport:
    """Re-encrypt every cipher under the newest key (QUICKBOOKS_TOKEN_KEYS[0]), one row at a time, locked."""
    report = RotationReport()
    for model, fields in ENCRYPTED_FIELDS:
        for pk in model.objects.values_list("pk", flat=True).iterator():
            with transaction.atomic():
                row = model.objects.select_for_update().get(pk=pk)
                changed = []
                for name in fields:
                    sealed = getattr(row, name)
                    if sealed is None:
                        continue
                    try:
                        older = not is_under_newest_key(sealed.ciphertext)
                        setattr(row, name, Sealed(rotate(sealed.ciphertext)))
                    except TokenDecryptionError:
                        report.undecryptable += 1
                        continue
                    report.ciphers += 1
                    report.were_under_older_key += older
                    changed.append(name)
                if changed:
                    row.save(update_fields=changed)
                    report.rows += 1
    logger.info(
        "qbo.keys.rotated rows=%s ciphers=%s older=%s undecryptable=%s",
        report.rows,
        report.ciphers,
        report.were_under_older_key,
        report.undecryptable,
    )
    return report
