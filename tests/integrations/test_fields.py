import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection as db

from integrations.fields import Sealed, TokenDecryptionError
from integrations.models import QuickBooksConnection
from tests.integrations.conftest import make_connection

pytestmark = pytest.mark.django_db

OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()


def raw_cipher(pk: int, column: str = "refresh_token_cipher") -> str:
    with db.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM integrations_quickbooksconnection WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def test_tokens_are_stored_encrypted_and_read_back_sealed(tenant, monkeypatch):
    monkeypatch.setenv("QUICKBOOKS_TOKEN_KEYS", OLD_KEY)
    connection = make_connection(tenant.company, refresh="refresh-plaintext-123")
    stored = raw_cipher(connection.pk)
    assert "refresh-plaintext-123" not in stored
    assert Fernet(OLD_KEY.encode()).decrypt(stored.encode()) == b"refresh-plaintext-123"
    loaded = QuickBooksConnection.objects.get(pk=connection.pk)
    assert isinstance(loaded.refresh_token_cipher, Sealed)
    assert repr(loaded.refresh_token_cipher) == "<sealed>" and "refresh-plaintext" not in str(loaded.__dict__)
    assert loaded.refresh_token_cipher.reveal() == "refresh-plaintext-123"


def test_a_failed_decryption_raises_and_never_returns_the_stored_text(tenant, monkeypatch):
    monkeypatch.setenv("QUICKBOOKS_TOKEN_KEYS", OLD_KEY)
    connection = make_connection(tenant.company, refresh="refresh-plaintext-123")
    monkeypatch.setenv("QUICKBOOKS_TOKEN_KEYS", NEW_KEY)  # the old key is gone
    loaded = QuickBooksConnection.objects.get(pk=connection.pk)
    with pytest.raises(TokenDecryptionError) as error:
        loaded.refresh_token_cipher.reveal()
    assert "rotate_token_keys" in str(error.value)
    assert raw_cipher(connection.pk) not in str(error.value)


def test_rotate_token_keys_reencrypts_everything_so_the_old_key_can_go(tenant, other_tenant, monkeypatch, capsys):
    monkeypatch.setenv("QUICKBOOKS_TOKEN_KEYS", OLD_KEY)
    first = make_connection(tenant.company, access="a-1", refresh="r-1", realm="1")
    second = make_connection(other_tenant.company, access="a-2", refresh="r-2", realm="2")
    monkeypatch.setenv("QUICKBOOKS_TOKEN_KEYS", f"{NEW_KEY},{OLD_KEY}")  # newest first
    call_command("rotate_token_keys")
    assert "Re-encrypted 4 token cipher(s) in 2 row(s); 4 were under an older key." in capsys.readouterr().out

    monkeypatch.setenv("QUICKBOOKS_TOKEN_KEYS", NEW_KEY)  # the oldest key removed
    assert QuickBooksConnection.objects.get(pk=first.pk).refresh_token_cipher.reveal() == "r-1"
    assert QuickBooksConnection.objects.get(pk=second.pk).access_token_cipher.reveal() == "a-2"
    assert Fernet(NEW_KEY.encode()).decrypt(raw_cipher(first.pk, "access_token_cipher").encode()) == b"a-1"


def test_rotate_token_keys_reports_ciphers_no_key_can_open(tenant, monkeypatch):
    from django.core.management.base import CommandError

    monkeypatch.setenv("QUICKBOOKS_TOKEN_KEYS", OLD_KEY)
    make_connection(tenant.company)
    monkeypatch.setenv("QUICKBOOKS_TOKEN_KEYS", NEW_KEY)
    with pytest.raises(CommandError, match="2 cipher\\(s\\) could not be decrypted"):
        call_command("rotate_token_keys")


def test_system_check_reports_missing_or_malformed_token_keys(settings, monkeypatch):
    from integrations.checks import check_quickbooks_secrets

    monkeypatch.setenv("QUICKBOOKS_TOKEN_KEYS", "not-a-fernet-key")
    assert [e.id for e in check_quickbooks_secrets()] == ["attune.E002"]
    settings.SECRETS_ALLOW_DEV_DEFAULTS = False
    monkeypatch.delenv("QUICKBOOKS_TOKEN_KEYS")
    monkeypatch.setenv("QUICKBOOKS_CLIENT_ID", "id")
    monkeypatch.setenv("QUICKBOOKS_CLIENT_SECRET", "secret")
    errors = check_quickbooks_secrets()
    assert [(e.id, e.msg) for e in errors] == [
        ("attune.E001", "QUICKBOOKS_TOKEN_KEYS is not set. Set it in the environment (see .env.example).")
    ]


def test_database_check_reports_tokens_the_keys_cannot_open(tenant, monkeypatch):
    from integrations.checks import check_stored_tokens_decrypt

    monkeypatch.setenv("QUICKBOOKS_TOKEN_KEYS", OLD_KEY)
    make_connection(tenant.company)
    assert check_stored_tokens_decrypt(databases=["default"]) == []
    monkeypatch.setenv("QUICKBOOKS_TOKEN_KEYS", NEW_KEY)
    assert [e.id for e in check_stored_tokens_decrypt(databases=["default"])] == ["attune.E007"]


def test_simulator_is_refused_with_production_settings(settings):
    from integrations.checks import check_quickbooks_environment

    settings.QUICKBOOKS_ENVIRONMENT = "simulator"
    settings.SECRETS_ALLOW_DEV_DEFAULTS = False
    assert "attune.E004" in [e.id for e in check_quickbooks_environment()]


def test_plain_http_endpoints_are_refused_unless_loopback(settings):
    from integrations.checks import check_quickbooks_environment

    settings.QUICKBOOKS_TOKEN_ENDPOINT = "http://auth.example.com/token"
    assert [e.id for e in check_quickbooks_environment()] == ["attune.E006"]
    settings.QUICKBOOKS_TOKEN_ENDPOINT = "http://127.0.0.1:9000/token"
    assert check_quickbooks_environment() == []
