"""Tables of the offline QuickBooks. Nothing here is shared with the rest of the project.

Accounting objects are stored generically (`SimEntity`: one row per object, the QBO JSON in `body`,
plus the few columns that queries, uniqueness rules and CDC need), so adding an entity type needs no
migration.
"""

from __future__ import annotations

from django.db import models


class TaxStyle(models.TextChoices):
    # US: lines carry the pseudo codes TAX/NON, one TxnTaxCodeRef per transaction.
    US = "us", "US (TAX/NON line codes)"
    # Everywhere else: each line carries a real TaxCode id; GlobalTaxCalculation applies.
    PER_LINE = "per_line", "Per-line tax codes (non-US)"


class SimCompany(models.Model):
    """A sample QuickBooks company (a realm)."""

    realm_id = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=200)
    legal_name = models.CharField(max_length=200)
    country = models.CharField(max_length=2)  # US / CA / GB
    home_currency = models.CharField(max_length=3)
    multicurrency_enabled = models.BooleanField(default=False)
    tax_style = models.CharField(max_length=16, choices=TaxStyle.choices)
    time_zone = models.CharField(max_length=64, default="UTC")
    address_line1 = models.CharField(max_length=200, blank=True)
    city = models.CharField(max_length=100, blank=True)
    region = models.CharField(max_length=50, blank=True)  # CountrySubDivisionCode
    postal_code = models.CharField(max_length=20, blank=True)
    email = models.CharField(max_length=200, blank=True)
    fiscal_year_start_month = models.CharField(max_length=12, default="January")
    # US only: Automated Sales Tax (Preferences.TaxPrefs.PartnerTaxEnabled): QBO picks the tax code and
    # rate from the address, ignoring the TxnTaxCodeRef sent (QBO-REFERENCE §5.1).
    automated_sales_tax = models.BooleanField(default=False)
    created_at = models.DateTimeField()
    # Per-realm knobs and counters (F() updates; read by the control API).
    latency_ms = models.PositiveIntegerField(default=0)
    token_calls = models.PositiveIntegerField(default=0)
    api_calls = models.PositiveIntegerField(default=0)  # metered calls: each batch item counts as one (§2.6)
    # Calls by kind (control API `state`): reads (GET, query, CDC; Intuit's metered "CorePlus"), single writes,
    # batch requests, and the items inside them (a batch Query item also counts as a read).
    read_calls = models.PositiveIntegerField(default=0)
    write_calls = models.PositiveIntegerField(default=0)
    batch_requests = models.PositiveIntegerField(default=0)
    batch_items = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.realm_id})"


class SimAuthorizationCode(models.Model):
    """An authorization code from the consent page: single use, 10 minutes."""

    code = models.CharField(max_length=128, unique=True)
    company = models.ForeignKey(SimCompany, on_delete=models.CASCADE, related_name="authorization_codes")
    client_id = models.CharField(max_length=200)
    redirect_uri = models.CharField(max_length=2000)
    scope = models.CharField(max_length=1000)
    code_challenge = models.CharField(max_length=200, blank=True)
    code_challenge_method = models.CharField(max_length=10, blank=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    # The grant the code was exchanged for; a second use of the code revokes it (RFC 6749 §4.1.2).
    grant = models.ForeignKey("SimGrant", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    def __str__(self) -> str:
        return f"code for {self.company.realm_id}"


class SimGrant(models.Model):
    """One connection of an app to a company; all its tokens die together on revoke."""

    company = models.ForeignKey(SimCompany, on_delete=models.CASCADE, related_name="grants")
    client_id = models.CharField(max_length=200)
    scope = models.CharField(max_length=1000)
    created_at = models.DateTimeField()
    hard_expires_at = models.DateTimeField()  # the 5-year cap on refresh tokens
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"grant {self.pk} on {self.company.realm_id}"


class TokenKind(models.TextChoices):
    ACCESS = "access", "Access token"
    REFRESH = "refresh", "Refresh token"


class SimToken(models.Model):
    """An access or refresh token. Only a SHA-256 of the token is kept."""

    grant = models.ForeignKey(SimGrant, on_delete=models.CASCADE, related_name="tokens")
    kind = models.CharField(max_length=10, choices=TokenKind.choices)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)  # refresh tokens: rotated away
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.kind} token of grant {self.grant_id}"


class FaultTarget(models.TextChoices):
    TOKEN = "token", "Token endpoint"
    API = "api", "Accounting API"
    WEBHOOK = "webhook", "Webhook deliveries"


class FaultKind(models.TextChoices):
    INVALID_GRANT = "invalid_grant", "invalid_grant (token endpoint)"
    HTTP_500 = "500", "HTTP 500"
    TIMEOUT = "timeout", "Timeout (sleep, nothing applied)"
    TIMEOUT_AFTER_WRITE = "timeout_after_write", "Timeout after the write was applied"
    HTTP_401 = "401", "HTTP 401 (API: 3200)"
    HTTP_429 = "429", "HTTP 429 (API: 3001)"
    DROP = "drop", "Webhook: drop the delivery (never sent)"
    DELAY = "delay", "Webhook: delay the delivery by `seconds`"
    DUPLICATE = "duplicate", "Webhook: send the delivery twice"
    REORDER = "reorder", "Webhook: deliver the next two events in reverse order"
    CORRUPT_SIGNATURE = "corrupt_signature", "Webhook: wrong intuit-signature on the next attempt"


class SimFaultSwitch(models.Model):
    """ "The next `remaining` calls to `target` (for `realm_id`, or any realm when blank) fail with `kind`."""

    target = models.CharField(max_length=10, choices=FaultTarget.choices)
    realm_id = models.CharField(max_length=32, blank=True)
    kind = models.CharField(max_length=24, choices=FaultKind.choices)
    remaining = models.PositiveIntegerField()
    seconds = models.FloatField(default=5.0)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.target}:{self.kind} x{self.remaining}"


class SimControl(models.Model):
    """Simulator-wide switches (a single row, pk=1). `None` means "follow the Django setting"."""

    rate_limits_enabled = models.BooleanField(null=True, blank=True)
    send_retry_after = models.BooleanField(null=True, blank=True)
    requests_per_minute = models.PositiveIntegerField(default=500)
    concurrent_requests = models.PositiveIntegerField(default=10)
    batch_requests_per_minute = models.PositiveIntegerField(default=40)
    # How fast the simulator's "minute" passes for the per-minute limits: 10 = a minute lasts 6 s (None = the
    # Django setting QUICKBOOKS_SIMULATOR_TIME_SCALE).
    time_scale = models.FloatField(null=True, blank=True)
    token_calls = models.PositiveIntegerField(default=0)
    # How computed tax is rounded to cents: half up (as modelled on Intuit), or down — a switch for tests that
    # need QuickBooks to disagree with the app by a cent.
    tax_rounding = models.CharField(max_length=10, default="half_up")
    # Webhooks: blank / None = follow the Django settings (QUICKBOOKS_SIMULATOR_WEBHOOK_*).
    webhook_url = models.CharField(max_length=2000, blank=True)
    webhook_format = models.CharField(max_length=16, blank=True)  # cloudevents / legacy
    webhook_delivery = models.CharField(max_length=16, blank=True)  # background / sync / manual

    def __str__(self) -> str:
        return "simulator control"


class SimRateWindow(models.Model):
    """Calls counted in one fixed one-minute window, per realm and bucket (`all` or `batch`)."""

    realm_id = models.CharField(max_length=32)
    bucket = models.CharField(max_length=10)
    window_start = models.DateTimeField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["realm_id", "bucket", "window_start"], name="sim_rate_window_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.realm_id} {self.bucket} {self.window_start}: {self.count}"


class SimEntity(models.Model):
    """One Accounting API object of one company."""

    company = models.ForeignKey(SimCompany, on_delete=models.CASCADE, related_name="entities")
    entity_type = models.CharField(
        max_length=20
    )  # Customer, Item, Account, TaxCode, TaxRate, Invoice, Payment
    entity_id = models.CharField(max_length=20)
    number = models.PositiveIntegerField(null=True, blank=True)  # numeric Id, for sequences and ordering
    sync_token = models.PositiveIntegerField(default=0)
    active = models.BooleanField(default=True)
    deleted = models.BooleanField(default=False)
    voided = models.BooleanField(default=False)
    name = models.CharField(max_length=500, blank=True)  # DisplayName or Name
    name_key = models.CharField(max_length=500, blank=True)  # lower-cased, for uniqueness
    doc_number = models.CharField(max_length=50, blank=True)
    customer_ref = models.CharField(max_length=20, blank=True)
    body = models.JSONField(default=dict)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["number", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["company", "entity_type", "entity_id"], name="sim_entity_unique_id"
            )
        ]
        indexes = [
            models.Index(fields=["company", "entity_type", "name_key"], name="sim_entity_name_idx"),
            models.Index(fields=["company", "entity_type", "doc_number"], name="sim_entity_docnum_idx"),
            models.Index(fields=["company", "entity_type", "updated_at"], name="sim_entity_updated_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.entity_type} {self.entity_id} ({self.company.realm_id})"


class SimIdempotentResponse(models.Model):
    """The response to a write sent with `requestid`, replayed when the same requestid comes again."""

    company = models.ForeignKey(SimCompany, on_delete=models.CASCADE, related_name="idempotent_responses")
    request_id = models.CharField(max_length=50)
    status = models.PositiveSmallIntegerField()
    body = models.JSONField()
    created_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["company", "request_id"], name="sim_requestid_unique")]

    def __str__(self) -> str:
        return f"requestid {self.request_id}"


class WebhookState(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered (HTTP 200)"
    DROPPED = "dropped", "Dropped by a switch"


class SimWebhookDelivery(models.Model):
    """One POST (and its retries) to the app's webhook URL: up to 100 events, signed. Deliveries go out one
    at a time in id order; a pending one blocks every later event (head-of-line, QBO-REFERENCE §4.4)."""

    state = models.CharField(max_length=10, choices=WebhookState.choices, default=WebhookState.PENDING)
    url = models.CharField(max_length=2000)
    format = models.CharField(max_length=16)
    content_type = models.CharField(max_length=100)
    body = models.TextField()
    created_at = models.DateTimeField()
    next_attempt_at = models.DateTimeField()
    attempts = models.PositiveIntegerField(default=0)
    last_status = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    duplicate = models.BooleanField(default=False)  # switch: sent twice
    corrupt_attempts = models.PositiveIntegerField(default=0)  # switch: attempts left with a wrong signature

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"webhook delivery {self.pk} ({self.state})"


class SimWebhookEvent(models.Model):
    """A change QuickBooks notifies about, written in the same transaction as the change (an outbox)."""

    company = models.ForeignKey(SimCompany, on_delete=models.CASCADE, related_name="webhook_events")
    event_id = models.CharField(max_length=36, unique=True)  # CloudEvents `id`, the same on every retry
    entity_type = models.CharField(max_length=20)
    entity_id = models.CharField(max_length=20)
    operation = models.CharField(max_length=10)  # Create / Update / Delete / Void
    occurred_at = models.DateTimeField()
    delivery = models.ForeignKey(
        SimWebhookDelivery, on_delete=models.SET_NULL, null=True, blank=True, related_name="events"
    )

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.entity_type} {self.entity_id} {self.operation}"
