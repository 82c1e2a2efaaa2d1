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
    # Pull (webhooks + CDC): changes read up to here (with a small overlap on the next read), and reads counted
    # per calendar month (Intuit meters reads, QBO-REFERENCE §0 #6).
    cdc_watermark = models.DateTimeField(null=True, blank=True)
    reads_month = models.CharField(max_length=7, blank=True, help_text="YYYY-MM of reads_this_month.")
    reads_this_month = models.PositiveIntegerField(default=0)
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

    event_id = models.CharField(max_length=80, unique=True)
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

    def __str__(self) -> str:
        return f"{self.entity_name} {self.entity_id} {self.operation} ({self.realm_id})"


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
