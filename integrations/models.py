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


class SalesTaxMode(models.TextChoices):
    MANUAL = "manual", "Manual sales tax"
    AUTOMATED = "ast", "Automated Sales Tax"
    OFF = "off", "Sales tax off"


class InitialSync(models.TextChoices):
    NEW_ONLY = "new_only", "New invoices only"
    SINCE_DATE = "since_date", "Everything issued from a date"


class AdoptionPolicy(models.TextChoices):
    """What happens when QuickBooks already has a matching invoice or customer (docs/customer/integrations/
    adoption-and-reconciliation.md)."""

    LINK = "link", "Link matches, flag conflicts"
    SKIP = "skip", "Skip (do nothing, show only)"
    CREATE = "create", "Create anyway (allow duplicate numbers)"


class QuickBooksConnection(models.Model):
    """A Company's link to one QuickBooks Online company (realm). One per Company; kept after disconnect so
    sync history keeps its context, with the token ciphers cleared."""

    company = models.OneToOneField("tenants.Company", on_delete=models.CASCADE, related_name="quickbooks_connection")
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
    last_error = models.CharField(max_length=300, blank=True, help_text="The last problem, for people (no secrets).")
    # Read from CompanyInfo after connecting; empty until that read succeeds (it is retried later).
    qbo_company_name = models.CharField("QuickBooks company name", max_length=200, blank=True)
    qbo_country = models.CharField("QuickBooks country", max_length=2, blank=True)
    company_info_fetched_at = models.DateTimeField(null=True, blank=True)
    # From Preferences/CompanyInfo at connect time: which payload style QuickBooks expects (QBO-REFERENCE §5).
    tax_style = models.CharField(
        max_length=10, choices=[("us", "US (TAX/NON)"), ("global", "Tax codes per line")], blank=True
    )
    # US companies only: manual sales tax (we name the tax code) or Automated Sales Tax (QuickBooks computes it
    # from addresses; we send TotalTax so the totals agree). Read from Preferences.TaxPrefs (QBO-REFERENCE §5.1).
    sales_tax_mode = models.CharField(max_length=10, choices=SalesTaxMode.choices, blank=True)
    home_currency = models.CharField(max_length=3, blank=True)
    multicurrency_enabled = models.BooleanField(default=False)
    # When this realm was first connected; invoices finalized since then go to QuickBooks by themselves.
    realm_connected_at = models.DateTimeField(null=True, blank=True)
    # Which older invoices go too: none ("new invoices only") or every invoice issued on or after a date.
    initial_sync = models.CharField(max_length=12, choices=InitialSync.choices, default=InitialSync.NEW_ONLY)
    initial_sync_since = models.DateField(null=True, blank=True)
    auto_sync = models.BooleanField(default=True, help_text="Push finalized and edited invoices automatically.")
    # What to do when QuickBooks already holds an invoice with our number (or a customer with our client's name).
    adoption_policy = models.CharField(max_length=10, choices=AdoptionPolicy.choices, default=AdoptionPolicy.LINK)
    # Single-flight refresh: whoever holds an unexpired lease is talking to the token endpoint right now.
    refresh_lease_holder = models.CharField(max_length=40, blank=True)
    refresh_lease_until = models.DateTimeField(null=True, blank=True)
    # Warnings sent to admins before the refresh token's hard expiry (5-year cap, QBO-REFERENCE §1.5).
    hard_expiry_warned_30_at = models.DateTimeField(null=True, blank=True)
    hard_expiry_warned_7_at = models.DateTimeField(null=True, blank=True)
    # Pull (webhooks + CDC): changes read up to here (with a small overlap on the next read). Reads and writes per
    # calendar month are counted per realm, once, by the limiter (QuickBooksRealmPace; decision 0018).
    cdc_watermark = models.DateTimeField(null=True, blank=True)
    # Bumped whenever one of the company's mappings changes (integrations/receivers.py): a worker's cached mapping
    # table is good while this number is the one it was read with (the claim reads the connection anyway).
    mappings_version = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "QuickBooks connection"
        verbose_name_plural = "QuickBooks connections"
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


class MappingKind(models.TextChoices):
    ITEM = "item", "Product → Item"
    TAX_CODE = "tax_code", "Tax rate → TaxCode"
    SALES_TAX_CODE = "sales_tax_code", "Tax rate → US sales tax code"
    INCOME_ACCOUNT = "income_account", "Income account"
    PAYMENT_METHOD = "payment_method", "Payment method → PaymentMethod"
    DEPOSIT_ACCOUNT = "deposit_account", "Deposit account"


DEFAULT_KEY = "default"


class QuickBooksMapping(models.Model):
    """One of our things (a product id, a tax rate id, or `default`) → a QuickBooks object id, in one realm.

    Ids are meaningful only inside their QuickBooks company, so mappings are keyed by realm: switching to
    another QuickBooks company starts with none, and switching back restores them.
    """

    company = models.ForeignKey("tenants.Company", on_delete=models.CASCADE, related_name="quickbooks_mappings")
    realm_id = models.CharField(max_length=32, default="", blank=True)
    kind = models.CharField(max_length=20, choices=MappingKind.choices)
    local_key = models.CharField(max_length=64, help_text="Our id (product or tax rate), or “default”.")
    qbo_id = models.CharField("QuickBooks id", max_length=32)
    qbo_name = models.CharField("QuickBooks name", max_length=200, blank=True)
    # Set when a person saved it on the mapping page; empty for suggestions made by name at connect time.
    confirmed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "QuickBooks mapping"
        verbose_name_plural = "QuickBooks mappings"
        ordering = ["kind", "local_key"]
        constraints = [
            models.UniqueConstraint(
                fields=["company", "realm_id", "kind", "local_key"], name="uniq_mapping_company_realm_kind_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.local_key} → {self.qbo_name or self.qbo_id}"


class LinkType(models.TextChoices):
    CLIENT = "client", "Client ↔ Customer"
    INVOICE = "invoice", "Invoice ↔ Invoice"
    PAYMENT = "payment", "Payment ↔ Payment"


class QuickBooksLink(models.Model):
    """Ties one of our objects to its QuickBooks object in one realm: QBO id, last SyncToken, and the hash of
    what we last pushed (an unchanged hash means no call)."""

    company = models.ForeignKey("tenants.Company", on_delete=models.CASCADE, related_name="quickbooks_links")
    realm_id = models.CharField(max_length=32)
    object_type = models.CharField(max_length=10, choices=LinkType.choices)
    object_id = models.BigIntegerField()
    qbo_id = models.CharField(max_length=32)
    sync_token = models.CharField(max_length=16, blank=True)
    payload_hash = models.CharField(max_length=64, blank=True)
    # The whole QuickBooks object from the last write's answer: the base of a full update (QBO-REFERENCE §2.4).
    qbo_snapshot = models.JSONField(null=True, blank=True)
    # Our object's `updated_at` as last sent: a different current value means QuickBooks may be behind.
    source_updated_at = models.DateTimeField(null=True, blank=True)
    voided = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "QuickBooks link"
        verbose_name_plural = "QuickBooks links"
        constraints = [
            models.UniqueConstraint(
                fields=["company", "realm_id", "object_type", "object_id"], name="uniq_link_object_per_realm"
            ),
            # Per company: after a QuickBooks company moves from one of our companies to another, the old rows
            # must not decide what the new one may link.
            models.UniqueConstraint(
                fields=["company", "realm_id", "object_type", "qbo_id"], name="uniq_link_qbo_object_per_company"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.object_type} {self.object_id} ↔ QBO {self.qbo_id}"


class SyncStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    UP_TO_DATE = "up_to_date", "Up to date"
    DRIFT = "drift", "Drift"
    FAILED = "failed", "Failed"
    DEAD = "dead", "Dead (gave up)"
    SKIPPED = "skipped", "Skipped"


class SyncOperation(models.TextChoices):
    PUSH = "push", "Create or update"
    VOID = "void", "Void"


class SyncTrigger(models.TextChoices):
    AUTO = "auto", "Automatic"
    MANUAL = "manual", "Sync now"
    RETRY = "retry", "Retry"


class QuickBooksSyncLog(models.Model):
    """One sync of one entity: the outbox row while pending, then its history.

    Edits inside the debounce window update the pending row, so many edits make one push of the latest
    state. `generation` names a run of automatic attempts: `requestid`s derive from (row id, generation), so a
    retry replays a write that reached Intuit instead of repeating it; a person's retry starts a new one.
    """

    company = models.ForeignKey("tenants.Company", on_delete=models.CASCADE, related_name="quickbooks_sync_logs")
    realm_id = models.CharField(max_length=32, blank=True, help_text="The QuickBooks company it was meant for.")
    entity_type = models.CharField(max_length=20, default="invoice")
    object_id = models.BigIntegerField()
    object_repr = models.CharField(max_length=100, blank=True)
    operation = models.CharField(max_length=10, choices=SyncOperation.choices, default=SyncOperation.PUSH)
    status = models.CharField(max_length=10, choices=SyncStatus.choices, default=SyncStatus.PENDING)
    trigger = models.CharField(max_length=10, choices=SyncTrigger.choices, default=SyncTrigger.AUTO)
    triggered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    attempts = models.PositiveIntegerField(default=0)
    throttled = models.PositiveIntegerField(default=0, help_text="429s answered; they do not use up attempts.")
    generation = models.PositiveIntegerField(default=1)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    qbo_id = models.CharField("QuickBooks id", max_length=32, blank=True)
    intuit_tid = models.CharField(max_length=64, blank=True)
    error_code = models.CharField(max_length=32, blank=True)
    message = models.TextField(blank=True)
    payload = models.JSONField(null=True, blank=True, help_text="What was sent or refused, secrets redacted.")
    # Where QuickBooks' figures differ from ours after a write: {"differences": [...], "causes": [...]}.
    drift = models.JSONField(null=True, blank=True)
    # Set when the object changed while this entry was being pushed: its outcome then queues a new entry.
    rerun_requested = models.BooleanField(default=False)
    # The requestid of a create that was sent but never answered: the next create of this invoice reuses it, so
    # Intuit replays the first one if it landed (QBO-REFERENCE §2.8). Cleared when a create is refused for good.
    create_request_id = models.CharField(max_length=50, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "QuickBooks sync log entry"
        verbose_name_plural = "QuickBooks sync log"
        indexes = [
            # An object's latest row, in the order the app reads it (created_at, id), with its status: the invoice
            # list's QuickBooks column and filter read it from the index alone, one probe per invoice.
            models.Index(
                fields=["company", "entity_type", "object_id", "-created_at", "-id", "status"],
                name="synclog_latest_idx",
            ),
            models.Index(fields=["company", "status", "-updated_at"], name="synclog_company_status_idx"),
            models.Index(fields=["status", "next_attempt_at"], name="synclog_due_idx"),
            # Workers claim the next due entry realm by realm (round robin, integrations/outbox/worker.py `sync_drain`).
            models.Index(fields=["realm_id", "status", "next_attempt_at"], name="synclog_realm_due_idx"),
            # The activity page: newest first, optionally by status or invoice number (100,000 rows stay fast).
            models.Index(fields=["company", "-created_at", "-id"], name="synclog_activity_idx"),
            # With the error code: "problems by cause" groups from the index alone (no row reads).
            models.Index(fields=["company", "status", "-created_at", "error_code"], name="synclog_problems_idx"),
            models.Index(fields=["company", "object_repr"], name="synclog_activity_number_idx"),
            # At volume (issue 11): problems by cause, the admin's filters and searches, the superuser's list
            # (every company, newest first) and the retention sweep (old rows by status). bench/pages.py.
            # Status before code: an index led by the code would tempt SQLite to walk every row of the company to
            # group "problems by cause" in index order.
            models.Index(fields=["company", "status", "error_code", "-created_at"], name="synclog_cause_idx"),
            models.Index(fields=["company", "operation", "-created_at"], name="synclog_operation_idx"),
            models.Index(fields=["company", "trigger", "-created_at"], name="synclog_trigger_idx"),
            models.Index(fields=["company", "qbo_id"], name="synclog_qbo_id_idx"),
            models.Index(fields=["intuit_tid"], name="synclog_intuit_tid_idx"),
            models.Index(fields=["-created_at", "-id"], name="synclog_created_idx"),
            models.Index(fields=["status", "created_at"], name="synclog_retention_idx"),
        ]
        constraints = [
            # One live entry per object, whatever its state: two could otherwise push the same invoice twice.
            models.UniqueConstraint(
                fields=["company", "entity_type", "object_id"],
                condition=Q(status__in=["pending", "running"]),
                name="uniq_live_sync_entry",
            )
        ]

    def __str__(self) -> str:
        return f"{self.entity_type} {self.object_repr or self.object_id}: {self.operation} {self.status}"

    @property
    def can_retry(self) -> bool:
        return self.status in (SyncStatus.FAILED, SyncStatus.DEAD)


class QuickBooksChoice(models.Model):
    """One entry of a QuickBooks list (Item, TaxCode, Account, PaymentMethod) as last read for the mapping page.

    A cache per connection and realm: the mapping page's selects and searches read it, "Refresh from
    QuickBooks" replaces it. Inactive entries are kept (flagged) so a mapping to one can be shown as such; an
    id missing from the cache after a refresh has vanished from QuickBooks.
    """

    connection = models.ForeignKey(QuickBooksConnection, on_delete=models.CASCADE, related_name="choices")
    realm_id = models.CharField(max_length=32)
    entity = models.CharField(max_length=20)  # Item | TaxCode | Account | PaymentMethod
    qbo_id = models.CharField("QuickBooks id", max_length=32)
    name = models.CharField(max_length=200)
    name_key = models.CharField(max_length=200, help_text="Lower-cased name, for search and sorting.")
    active = models.BooleanField(default=True)
    detail = models.CharField(max_length=100, blank=True, help_text="Item type or account type.")
    fetched_at = models.DateTimeField()

    class Meta:
        verbose_name = "QuickBooks list entry"
        verbose_name_plural = "QuickBooks list entries"
        ordering = ["entity", "name_key"]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "realm_id", "entity", "qbo_id"], name="uniq_choice_per_realm_entity"
            )
        ]
        indexes = [models.Index(fields=["connection", "realm_id", "entity", "name_key"], name="choice_search_idx")]

    def __str__(self) -> str:
        return f"{self.entity} {self.name} ({self.qbo_id})"


class WebhookEventStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    PROCESSED = "processed", "Processed"
    IGNORED = "ignored", "Ignored"
    FAILED = "failed", "Failed"


class QuickBooksWebhookEvent(models.Model):
    """One change QuickBooks told us about (a webhook event or a CDC row), stored once by its id.

    CloudEvents carry an `id` (the same on every retry); legacy events get a derived one (sha256 of realm, entity,
    id, operation and lastUpdated); CDC rows one of realm, entity, id and LastUpdatedTime. Processing re-reads the
    object, so order does not matter; an event is marked processed in the same transaction as its effect.
    """

    event_id = models.CharField(max_length=80)
    source = models.CharField(max_length=12, default="webhook")  # webhook | cdc
    realm_id = models.CharField(max_length=32, db_index=True)
    entity_name = models.CharField(max_length=40)
    entity_id = models.CharField(max_length=32)
    operation = models.CharField(max_length=20)
    occurred_at = models.CharField(max_length=40, blank=True, help_text="As QuickBooks sent it.")
    # CDC rows carry the whole object: processing uses it instead of reading it again (reads are metered).
    payload = models.JSONField(null=True, blank=True)
    company = models.ForeignKey(
        "tenants.Company", null=True, blank=True, on_delete=models.CASCADE, related_name="quickbooks_webhook_events"
    )
    status = models.CharField(
        max_length=10, choices=WebhookEventStatus.choices, default=WebhookEventStatus.RECEIVED, db_index=True
    )
    attempts = models.PositiveIntegerField(default=0)
    message = models.CharField(max_length=500, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        verbose_name = "QuickBooks webhook event"
        verbose_name_plural = "QuickBooks webhook events"
        indexes = [models.Index(fields=["status", "id"], name="qbo_event_due_idx")]
        constraints = [
            # Event ids are unique per QuickBooks company, not across all of them (CloudEvents ids are only
            # promised unique per source; derived ids include the realm anyway).
            models.UniqueConstraint(fields=["realm_id", "event_id"], name="uniq_event_per_realm")
        ]

    def __str__(self) -> str:
        return f"{self.entity_name} {self.entity_id} {self.operation} ({self.realm_id})"


class QuickBooksWebhookDelivery(models.Model):
    """A signed webhook delivery exactly as it arrived, waiting to be unpacked into events by a task.

    The answer to Intuit is the signature check and this one INSERT, whatever the number of events: deliveries
    are head-of-line blocking at Intuit (QBO-REFERENCE §4.4), so the answer must not grow with the body. The row
    is deleted in the transaction that stores its events.
    """

    body = models.BinaryField()
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        verbose_name = "QuickBooks webhook delivery"
        verbose_name_plural = "QuickBooks webhook deliveries"

    def __str__(self) -> str:
        return f"Delivery {self.pk} ({len(self.body or b'')} bytes)"


class UnappliedStatus(models.TextChoices):
    OPEN = "open", "Needs a person"
    RESOLVED = "resolved", "Resolved"
    GONE = "gone", "Voided or deleted in QuickBooks"


class QuickBooksUnappliedPayment(models.Model):
    """A QuickBooks payment (or the part of one) that we could not record against one of our invoices: not
    applied to an invoice, applied to an invoice that is not ours, or refused here (e.g. more than is due)."""

    company = models.ForeignKey("tenants.Company", on_delete=models.CASCADE, related_name="quickbooks_unapplied")
    realm_id = models.CharField(max_length=32)
    qbo_payment_id = models.CharField("QuickBooks payment id", max_length=32)
    customer_qbo_id = models.CharField(max_length=32, blank=True)
    customer_name = models.CharField(max_length=200, blank=True)
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    txn_date = models.DateField(null=True, blank=True)
    reason = models.CharField(max_length=300, blank=True)
    status = models.CharField(max_length=10, choices=UnappliedStatus.choices, default=UnappliedStatus.OPEN)
    qbo_snapshot = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "QuickBooks unapplied payment"
        constraints = [
            models.UniqueConstraint(
                fields=["company", "realm_id", "qbo_payment_id"], name="uniq_unapplied_payment_per_realm"
            )
        ]

    def __str__(self) -> str:
        return f"QuickBooks payment {self.qbo_payment_id}: {self.amount} ({self.status})"


class AdoptionAction(models.TextChoices):
    LINK = "link", "Link"
    CREATE = "create", "Create"
    SKIP = "skip", "Skip"


class AdoptionDecision(models.Model):
    """A person's answer for one of our objects on the adoption page, per realm: `skip` hides it from the page,
    `create` lets its push create a new QuickBooks invoice even though the number is taken."""

    company = models.ForeignKey("tenants.Company", on_delete=models.CASCADE, related_name="+")
    realm_id = models.CharField(max_length=32)
    object_type = models.CharField(max_length=10, choices=LinkType.choices)
    object_id = models.BigIntegerField()
    action = models.CharField(max_length=10, choices=AdoptionAction.choices)
    qbo_id = models.CharField(max_length=32, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "QuickBooks adoption decision"
        constraints = [
            models.UniqueConstraint(
                fields=["company", "realm_id", "object_type", "object_id"], name="uniq_adoption_decision"
            )
        ]

    def __str__(self) -> str:
        return f"{self.object_type} {self.object_id}: {self.action}"


class ReviewKind(models.TextChoices):
    ADOPTION = "adoption", "Adoption candidates"
    RECONCILIATION = "reconciliation", "Reconciliation"


class QuickBooksReview(models.Model):
    """The result of one read of QuickBooks for the adoption or reconciliation page (reads are metered: the
    pages show the stored result and read again only when a person presses "Check now")."""

    company = models.ForeignKey("tenants.Company", on_delete=models.CASCADE, related_name="+")
    realm_id = models.CharField(max_length=32)
    kind = models.CharField(max_length=16, choices=ReviewKind.choices)
    checked_at = models.DateTimeField(default=timezone.now)
    checked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reads = models.PositiveIntegerField(default=0)
    rows = models.JSONField(default=list)
    summary = models.JSONField(default=dict)

    class Meta:
        verbose_name = "QuickBooks review"
        ordering = ["-checked_at", "-id"]
        indexes = [models.Index(fields=["company", "kind", "-checked_at"], name="review_latest_idx")]

    def __str__(self) -> str:
        return f"{self.kind} of {self.company_id} at {self.checked_at:%Y-%m-%d %H:%M}"


class ExportFormat(models.TextChoices):
    CSV = "csv", "QuickBooks Online CSV"
    IIF = "iif", "QuickBooks Desktop IIF"


class QuickBooksExport(models.Model):
    """One download of invoices as a QuickBooks file (CSV for Online's import, IIF for Desktop), with the
    invoices it held, so a later export can leave out what QuickBooks already imported (neither format updates
    what is there: importing an invoice twice makes two). `completed_at` is set once the whole file was handed
    to the web server; an interrupted download does not count as exported."""

    company = models.ForeignKey("tenants.Company", on_delete=models.CASCADE, related_name="quickbooks_exports")
    format = models.CharField(max_length=3, choices=ExportFormat.choices)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)
    # What was asked for, to show on the page and to repeat the download.
    date_from = models.DateField(null=True, blank=True)
    date_to = models.DateField(null=True, blank=True)
    status_filter = models.CharField(max_length=12, blank=True)
    only_new = models.BooleanField(default=False)
    date_format = models.CharField(max_length=12, blank=True)
    # What it held.
    invoice_count = models.PositiveIntegerField(default=0)
    line_count = models.PositiveIntegerField(default=0)
    file_count = models.PositiveIntegerField(default=1)
    total = models.DecimalField(max_digits=16, decimal_places=2, default=0)
    file_name = models.CharField(max_length=120, blank=True)
    invoices = models.ManyToManyField("billing.Invoice", through="QuickBooksExportInvoice", related_name="+")

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "QuickBooks export"
        indexes = [models.Index(fields=["company", "-created_at"], name="export_company_recent_idx")]

    def __str__(self) -> str:
        return f"{self.get_format_display()} of {self.invoice_count} invoices ({self.created_at:%Y-%m-%d %H:%M})"


class QuickBooksExportInvoice(models.Model):
    """An invoice one export held."""

    export = models.ForeignKey(QuickBooksExport, on_delete=models.CASCADE, related_name="held")
    invoice = models.ForeignKey("billing.Invoice", on_delete=models.CASCADE, related_name="+")

    class Meta:
        verbose_name = "QuickBooks export invoice"
        constraints = [models.UniqueConstraint(fields=["export", "invoice"], name="uniq_export_invoice")]
        indexes = [models.Index(fields=["invoice", "export"], name="export_invoice_lookup_idx")]

    def __str__(self) -> str:
        return f"invoice {self.invoice_id} in export {self.export_id}"


# --- QuickBooks Desktop (Web Connector) -------------------------------------------------------------------


class DesktopStatus(models.TextChoices):
    ACTIVE = "active", "Connected"
    DISCONNECTED = "disconnected", "Not connected"


class QuickBooksDesktopConnection(models.Model):
    """A Company's link to one QuickBooks Desktop company file through the Web Connector (QBWC).

    The Web Connector signs in with `username` and a password we generate, show once and keep only hashed
    (`make_password`). `owner_id`/`file_id` go into the `.qwc` file; `file_id.hex` is the realm key under which
    links, sync log entries and the queue are filed, exactly as a realm id is for QuickBooks Online.
    """

    company = models.OneToOneField(
        "tenants.Company", on_delete=models.CASCADE, related_name="quickbooks_desktop_connection"
    )
    status = models.CharField(max_length=20, choices=DesktopStatus.choices, default=DesktopStatus.ACTIVE)
    username = models.CharField(max_length=64, unique=True)
    password_hash = models.CharField(max_length=256, editable=False)
    password_set_at = models.DateTimeField(null=True, blank=True)
    owner_id = models.UUIDField("OwnerID")
    file_id = models.UUIDField("FileID", unique=True)
    # What the Web Connector reported in sendRequestXML (company file path, qbXML version it speaks).
    company_file = models.CharField(max_length=500, blank=True)
    qbxml_version = models.CharField(max_length=10, blank=True)
    # Item names read by ItemQuery in the last session: an invoice naming another item fails before it is sent.
    item_names = models.JSONField(default=list, blank=True)
    items_read_at = models.DateTimeField(null=True, blank=True)
    # Sales tax items' rates from the same ItemQuery ({name: "8.25"}): an invoice whose rate differs from its sales
    # tax item's fails before it is sent (QuickBooks would compute another total).
    sales_tax_rates = models.JSONField(default=dict, blank=True)
    # Payments read back up to here (ReceivePaymentQuery's FromModifiedDate on the next session).
    payments_read_until = models.DateTimeField(null=True, blank=True)
    connected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    connected_at = models.DateTimeField(default=timezone.now)
    disconnected_at = models.DateTimeField(null=True, blank=True)
    last_session_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "QuickBooks Desktop connection"

    def __str__(self) -> str:
        return f"{self.company} ↔ QuickBooks Desktop ({self.get_status_display()})"

    @property
    def realm_key(self) -> str:
        """The `realm_id` of this company file's links and sync log entries (32 hex characters)."""
        return self.file_id.hex

    @property
    def is_active(self) -> bool:
        return self.status == DesktopStatus.ACTIVE


class DesktopSessionStatus(models.TextChoices):
    OPEN = "open", "Open"
    CLOSED = "closed", "Closed"
    FAILED = "failed", "Ended with an error"


class QuickBooksDesktopSession(models.Model):
    """One Web Connector run: the ticket handed out by `authenticate`, valid until `closeConnection` (or expiry).

    Only the ticket's SHA-256 is stored: a leaked database row cannot be replayed as a session.
    """

    connection = models.ForeignKey(QuickBooksDesktopConnection, on_delete=models.CASCADE, related_name="sessions")
    company = models.ForeignKey("tenants.Company", on_delete=models.CASCADE, related_name="+")
    ticket_hash = models.CharField(max_length=64, unique=True)
    status = models.CharField(max_length=10, choices=DesktopSessionStatus.choices, default=DesktopSessionStatus.OPEN)
    started_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    messages_sent = models.PositiveIntegerField(default=0)
    responses_received = models.PositiveIntegerField(default=0)
    items_read = models.BooleanField(default=False)
    payments_read = models.BooleanField(default=False)
    last_error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        verbose_name = "QuickBooks Desktop session"

    def __str__(self) -> str:
        return f"Web Connector session {self.pk} ({self.status})"


class DesktopRequestKind(models.TextChoices):
    CUSTOMER_ADD = "CustomerAdd", "CustomerAdd"
    CUSTOMER_MOD = "CustomerMod", "CustomerMod"
    CUSTOMER_QUERY = "CustomerQuery", "CustomerQuery"
    ITEM_QUERY = "ItemQuery", "ItemQuery"
    INVOICE_ADD = "InvoiceAdd", "InvoiceAdd"
    INVOICE_MOD = "InvoiceMod", "InvoiceMod"
    INVOICE_QUERY = "InvoiceQuery", "InvoiceQuery"
    RECEIVE_PAYMENT_QUERY = "ReceivePaymentQuery", "ReceivePaymentQuery"
    TXN_VOID = "TxnVoid", "TxnVoid"
    # Payments recorded in attune go to Desktop; a payment removed here is deleted there (no void for payments).
    RECEIVE_PAYMENT_ADD = "ReceivePaymentAdd", "ReceivePaymentAdd"
    TXN_DEL = "TxnDel", "TxnDel"
    # An item an invoice names that Desktop lacks, created with the mapped income account (Desktop mapping page).
    ITEM_SERVICE_ADD = "ItemServiceAdd", "ItemServiceAdd"


class DesktopRequestStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENT = "sent", "Sent, waiting for the answer"
    DONE = "done", "Answered"
    FAILED = "failed", "Refused by QuickBooks"
    CANCELLED = "cancelled", "Cancelled"


class QuickBooksDesktopRequest(models.Model):
    """One qbXML request of a company's queue, from queued to answered.

    `request_id` is the qbXML `requestID` attribute: an answer is matched to its request by it (and by the
    session it was sent in), so an answer to a request never sent is recognised and ignored. `sync_log` is the
    outbox entry it works for (invoice pushes share the outbox with QuickBooks Online).
    """

    company = models.ForeignKey("tenants.Company", on_delete=models.CASCADE, related_name="+")
    connection = models.ForeignKey(QuickBooksDesktopConnection, on_delete=models.CASCADE, related_name="requests")
    session = models.ForeignKey(
        QuickBooksDesktopSession, null=True, blank=True, on_delete=models.SET_NULL, related_name="requests"
    )
    sync_log = models.ForeignKey(
        "integrations.QuickBooksSyncLog", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=24, choices=DesktopRequestKind.choices)
    object_type = models.CharField(max_length=10, blank=True)
    object_id = models.BigIntegerField(null=True, blank=True)
    # Why a query was sent: "resolve" = did an add whose answer was lost land?, "refresh" = fetch the current
    # EditSequence after 3200, "link" = find an existing customer after 3100.
    purpose = models.CharField(max_length=10, blank=True)
    request_id = models.CharField(max_length=40, unique=True)
    status = models.CharField(
        max_length=10, choices=DesktopRequestStatus.choices, default=DesktopRequestStatus.QUEUED, db_index=True
    )
    qbxml = models.TextField(blank=True, help_text="The request as sent (no secrets).")
    # For an add or mod: the hash of what it carries and the version of our object it carries, stored on the
    # link when QuickBooks accepts it (an unchanged hash later means nothing to send).
    payload_hash = models.CharField(max_length=64, blank=True)
    source_updated_at = models.DateTimeField(null=True, blank=True)
    status_code = models.CharField(max_length=12, blank=True)
    status_message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        verbose_name = "QuickBooks Desktop request"
        indexes = [models.Index(fields=["connection", "status", "id"], name="desktop_queue_idx")]

    def __str__(self) -> str:
        return f"{self.kind} {self.request_id} ({self.status})"


class QuickBooksRealmPace(models.Model):
    """The per-realm limiter's shared state (integrations/quickbooks/limiter.py, decision 0013): one row per
    QuickBooks company, shared by every worker and process through the database.

    Times are Unix seconds. `next_call_at`/`next_batch_at` are the next free call slots (calls are paced evenly
    at Intuit's per-minute limits, so no minute ever holds more); `in_flight` counts calls under way (reset once
    `busy_until` passes, so a worker that died holding one cannot block the realm for long); `blocked_until` is
    set by a 429. `month`, `reads` and `writes` count this calendar month's calls (Intuit meters reads).
    """

    realm_id = models.CharField(max_length=32, unique=True)
    next_call_at = models.FloatField(default=0)
    next_batch_at = models.FloatField(default=0)
    blocked_until = models.FloatField(default=0)
    in_flight = models.IntegerField(default=0)
    busy_until = models.FloatField(default=0)
    month = models.CharField(max_length=7, blank=True, help_text="YYYY-MM of reads and writes.")
    reads = models.PositiveIntegerField(default=0)
    writes = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = "QuickBooks realm pace"

    def __str__(self) -> str:
        return f"pace of realm {self.realm_id}"


class BackfillStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    STOPPED = "stopped", "Stopped (resume to finish)"


class BackfillPhase(models.TextChoices):
    CUSTOMERS = "customers", "Customers"
    INVOICES = "invoices", "Invoices"
    RETRIES = "retries", "Retrying items QuickBooks deferred"


class QuickBooksBackfill(models.Model):
    """One "Send existing invoices" run: historical invoices sent through Intuit's batch endpoint.

    The row is the run's truth, so a killed worker resumes where it stopped: `cursor` is the last id (client in
    the customers phase, invoice after) whose outcome is recorded, and `batch` is the batch claimed and maybe
    sent, re-sent with the same `batch_request_id` so QuickBooks replays it instead of writing twice
    (QBO-REFERENCE §2.8). Invoices considered are bounded by `last_invoice_id` (fixed at start): later ones go
    through the ordinary outbox. At most one queued or running run per company (a constraint).
    """

    company = models.ForeignKey("tenants.Company", on_delete=models.CASCADE, related_name="quickbooks_backfills")
    realm_id = models.CharField(max_length=32)
    status = models.CharField(max_length=10, choices=BackfillStatus.choices, default=BackfillStatus.QUEUED)
    phase = models.CharField(max_length=10, choices=BackfillPhase.choices, default=BackfillPhase.CUSTOMERS)
    since = models.DateField(null=True, blank=True, help_text="Only invoices issued on or after this date.")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_invoice_id = models.BigIntegerField(default=0)
    cursor = models.BigIntegerField(default=0)
    batch = models.JSONField(null=True, blank=True, help_text="The claimed batch: [[kind, our id, bId], ...].")
    batch_request_id = models.CharField(max_length=36, blank=True)
    batches_sent = models.PositiveIntegerField(default=0)
    # Items QuickBooks deferred (429/5010/5xx inside a batch): [[kind, our id, tries], ...], sent again at the end.
    deferred = models.JSONField(default=list, blank=True)
    total = models.PositiveIntegerField(default=0)
    customers_total = models.PositiveIntegerField(default=0)
    customers_done = models.PositiveIntegerField(default=0)
    succeeded = models.PositiveIntegerField(default=0)
    drift = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    message = models.CharField(max_length=500, blank=True)
    worker = models.CharField(max_length=64, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "QuickBooks backfill"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["company", "-created_at"], name="backfill_latest_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["company"], condition=Q(status__in=["queued", "running"]), name="uniq_live_backfill"
            )
        ]

    def __str__(self) -> str:
        return f"backfill {self.pk} of company {self.company_id}: {self.status}"

    @property
    def processed(self) -> int:
        return self.succeeded + self.drift + self.failed

    @property
    def percent(self) -> int:
        if not self.total:
            return 100 if self.status == BackfillStatus.DONE else 0
        return min(100, self.processed * 100 // self.total)

    @property
    def is_live(self) -> bool:
        return self.status in (BackfillStatus.QUEUED, BackfillStatus.RUNNING)
