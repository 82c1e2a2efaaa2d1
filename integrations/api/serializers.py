from rest_framework import serializers


class AuthorizeUrlSerializer(serializers.Serializer):
    authorize_url = serializers.URLField()


class DisconnectSerializer(serializers.Serializer):
    status = serializers.CharField()
    warning = serializers.CharField(allow_blank=True)


class ConnectionStatusSerializer(serializers.Serializer):
    """Fields after `environment`/`last_synced_at` are operational: only staff and admins receive them."""

    details_visible = serializers.BooleanField()
    status = serializers.CharField()
    status_label = serializers.CharField()
    realm_id = serializers.CharField(allow_blank=True)
    company_name = serializers.CharField(allow_blank=True)
    country = serializers.CharField(allow_blank=True)
    environment = serializers.CharField()
    connected_at = serializers.DateTimeField(allow_null=True)
    connected_by = serializers.CharField(allow_blank=True)
    access_token_expires_at = serializers.DateTimeField(allow_null=True)
    refresh_token_expires_at = serializers.DateTimeField(allow_null=True)
    refresh_token_hard_expires_at = serializers.DateTimeField(allow_null=True)
    last_refreshed_at = serializers.DateTimeField(allow_null=True)
    last_synced_at = serializers.DateTimeField(allow_null=True)
    last_error = serializers.CharField(allow_blank=True)
    sync_counts = serializers.DictField(child=serializers.IntegerField())
    auto_sync = serializers.BooleanField()
    last_failures = serializers.ListField(child=serializers.DictField())
    reads_this_month = serializers.IntegerField()
    writes_this_month = serializers.IntegerField()
    read_allowance = serializers.IntegerField()
    read_share = serializers.FloatField()
    usage_warning = serializers.CharField(allow_blank=True)


class SyncLogSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    entity_type = serializers.CharField()
    object_id = serializers.IntegerField()
    object_repr = serializers.CharField()
    operation = serializers.CharField()
    status = serializers.CharField()
    trigger = serializers.CharField()
    triggered_by = serializers.SerializerMethodField()
    attempts = serializers.IntegerField()
    next_attempt_at = serializers.DateTimeField(allow_null=True)
    qbo_id = serializers.CharField()
    intuit_tid = serializers.CharField()
    error_code = serializers.CharField()
    message = serializers.CharField()
    payload = serializers.JSONField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)

    def get_triggered_by(self, entry) -> str:
        return entry.triggered_by.get_username() if entry.triggered_by else ""


class BackfillStartSerializer(serializers.Serializer):
    since = serializers.DateField(required=False, allow_null=True, help_text="Only invoices issued on or after.")


class BackfillSerializer(serializers.Serializer):
    """A "Send existing invoices" run and its progress."""

    id = serializers.IntegerField()
    status = serializers.CharField()
    phase = serializers.CharField()
    since = serializers.DateField(allow_null=True)
    total = serializers.IntegerField()
    processed = serializers.IntegerField()
    percent = serializers.IntegerField()
    succeeded = serializers.IntegerField()
    drift = serializers.IntegerField()
    failed = serializers.IntegerField()
    customers_total = serializers.IntegerField()
    customers_done = serializers.IntegerField()
    batches_sent = serializers.IntegerField()
    message = serializers.CharField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
