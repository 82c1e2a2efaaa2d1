from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from integrations.fields import EncryptedTextField


class ConnectionStatus(models.TextChoices):
    CONNECTED = "connected", "Connected"
    NEEDS_RECONNECT = "needs_reconnect", "Reconnect needed"
    DISCONNECTED = "disconnected", "Not connected"


class QuickBooksConnection(models.Model):
    """A Company's link to one QuickBooks Online company (realm). One per Company; kept after disconnect so
    sync history keeps its context, with the token ciphers cleared."""

    company = models.OneToOneField(
        "tenants.Company", on_delete=models.CASCADE, related_name="quickbooks_connection"
    )
    status = models.CharField(
        max_length=20, choices=ConnectionStatus.choices, default=ConnectionStatus.DISCONNECTED, db_index=True
    )
    realm_id = models.CharField(max_length=32, blank=True, db_index=True)
    environment = models.CharField(max_length=12, blank=True)
    access_token_cipher = EncryptedTextField(null=True, blank=True, editable=False)
    refresh_token_cipher = EncryptedTextField(null=True, blank=True, editable=False)
    access_token_expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    refresh_token_expires_at = models.DateTimeField(null=True, blank=True)
    refresh_token_hard_expires_at = models.DateTimeField(null=True, blank=True)
    scopes = models.JSONField(default=list, blank=True)
    connected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    connected_at = models.DateTimeField(null=True, blank=True)
    disconnected_at = models.DateTimeField(null=True, blank=True)
    last_refreshed_at = models.DateTimeField(null=True, blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    last_intuit_tid = models.CharField(max_length=64, blank=True)
    last_error = models.CharField(
        max_length=300, blank=True, help_text="The last problem, for people (no secrets)."
    )
    # Read from CompanyInfo after connecting; empty until that read succeeds (it is retried later).
    qbo_company_name = models.CharField("QuickBooks company name", max_length=200, blank=True)
    qbo_country = models.CharField("QuickBooks country", max_length=2, blank=True)
    company_info_fetched_at = models.DateTimeField(null=True, blank=True)
    # Single-flight refresh: whoever holds an unexpired lease is talking to the token endpoint right now.
    refresh_lease_holder = models.CharField(max_length=40, blank=True)
    refresh_lease_until = models.DateTimeField(null=True, blank=True)
    # Warnings sent to admins before the refresh token's hard expiry (5-year cap, QBO-REFERENCE §1.5).
    hard_expiry_warned_30_at = models.DateTimeField(null=True, blank=True)
    hard_expiry_warned_7_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # A QuickBooks company can be linked to at most one of our companies at a time.
            models.UniqueConstraint(
                fields=["realm_id", "environment"],
                condition=Q(status__in=["connected", "needs_reconnect"]),
                name="uniq_active_realm_per_environment",
            )
        ]

    def __str__(self) -> str:
        return f"{self.company} ↔ QuickBooks {self.realm_id or '—'} ({self.get_status_display()})"

    @property
    def is_connected(self) -> bool:
        return self.status == ConnectionStatus.CONNECTED

    def access_token_expires_within(self, seconds: float) -> bool:
        if self.access_token_expires_at is None:
            return True
        return (self.access_token_expires_at - timezone.now()).total_seconds() < seconds


class OAuthState(models.Model):
    """A started connect flow: the single-use `state`, its PKCE verifier, who started it and where.

    Kept server-side (not in the session) because an API client hands the authorize URL to a browser that
    has no API token. `session_key_hash` is set when the flow was started from a browser session: the
    callback must then arrive in that same session.
    """

    state = models.CharField(max_length=128, unique=True)
    company = models.ForeignKey("tenants.Company", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    code_verifier_cipher = EncryptedTextField(null=True, blank=True, editable=False)
    redirect_uri = models.CharField(max_length=500)
    environment = models.CharField(max_length=12)
    session_key_hash = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "OAuth state"

    def __str__(self) -> str:
        return f"connect flow for {self.company_id} started {self.created_at:%Y-%m-%d %H:%M}"
