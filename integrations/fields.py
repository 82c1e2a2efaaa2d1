"""Encrypted-at-rest text for OAuth tokens: MultiFernet with keys from `QUICKBOOKS_TOKEN_KEYS` (newest first).

The model attribute is a `Sealed` value: it holds the ciphertext, prints as `<sealed>`, and gives up the
plaintext only through `.reveal()`, which raises `TokenDecryptionError` (never returns the stored text)
when no configured key fits. Assign a plain `str` to store a new secret: it is encrypted on save.
"""

from __future__ import annotations

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.core.exceptions import ImproperlyConfigured
from django.db import models

from config import keys


class TokenDecryptionError(Exception):
    """No key in QUICKBOOKS_TOKEN_KEYS decrypts a stored token."""

    def __init__(self) -> None:
        super().__init__(
            "A stored QuickBooks token could not be decrypted with any key in QUICKBOOKS_TOKEN_KEYS. "
            "Was a key removed before `manage.py rotate_token_keys` ran?"
        )


@lru_cache(maxsize=8)
def _fernets(key_list: tuple[str, ...]) -> tuple[MultiFernet, Fernet]:
    try:
        fernets = [Fernet(key.encode()) for key in key_list]
    except (ValueError, TypeError) as error:
        raise ImproperlyConfigured(
            "QUICKBOOKS_TOKEN_KEYS must hold Fernet keys (32 url-safe base64-encoded bytes each), "
            "comma-separated, newest first."
        ) from error
    return MultiFernet(fernets), fernets[0]


def token_cipher() -> MultiFernet:
    return _fernets(tuple(keys.quickbooks_token_keys()))[0]


def encrypt(plaintext: str) -> str:
    return token_cipher().encrypt(plaintext.encode()).decode()


def decrypt(ciphertext: str) -> str:
    try:
        return token_cipher().decrypt(ciphertext.encode()).decode()
    except InvalidToken:
        raise TokenDecryptionError() from None


def is_under_newest_key(ciphertext: str) -> bool:
    newest = _fernets(tuple(keys.quickbooks_token_keys()))[1]
    try:
        newest.decrypt(ciphertext.encode())
    except InvalidToken:
        return False
    return True


def rotate(ciphertext: str) -> str:
    """Re-encrypt under the newest key (raises TokenDecryptionError if no key fits)."""
    try:
        return token_cipher().rotate(ciphertext.encode()).decode()
    except InvalidToken:
        raise TokenDecryptionError() from None


class Sealed:
    """A secret as stored: ciphertext only, until `.reveal()`."""

    __slots__ = ("ciphertext",)

    def __init__(self, ciphertext: str) -> None:
        self.ciphertext = ciphertext

    def reveal(self) -> str:
        return decrypt(self.ciphertext)

    def __repr__(self) -> str:
        return "<sealed>"

    __str__ = __repr__

    def __eq__(self, other) -> bool:
        return isinstance(other, Sealed) and other.ciphertext == self.ciphertext

    def __hash__(self) -> int:
        return hash(self.ciphertext)


class EncryptedTextField(models.TextField):
    """A TextField whose column holds MultiFernet ciphertext and whose attribute is `Sealed` (or None)."""

    def from_db_value(self, value, expression, connection):
        return None if value in (None, "") else Sealed(value)

    def to_python(self, value):
        if value is None or isinstance(value, Sealed):
            return value
        return Sealed(value) if value else None

    def pre_save(self, model_instance, add):
        value = getattr(model_instance, self.attname)
        if isinstance(value, str) and value:
            value = Sealed(encrypt(value))
            setattr(model_instance, self.attname, value)
        return value

    def get_prep_value(self, value):
        if value is None or value == "":
            return None
        if isinstance(value, Sealed):
            return value.ciphertext
        return encrypt(str(value))

    def value_to_string(self, obj):
        return "<sealed>"  # serialization (dumpdata) never writes a secret
