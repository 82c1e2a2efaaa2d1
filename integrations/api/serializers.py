from rest_framework import serializers


class AuthorizeUrlSerializer(serializers.Serializer):
    authorize_url = serializers.URLField()


class DisconnectSerializer(serializers.Serializer):
    status = serializers.CharField()
    warning = serializers.CharField(allow_blank=True)


class ConnectionStatusSerializer(serializers.Serializer):
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
