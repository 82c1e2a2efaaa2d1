"""Builds the API client for a connection, with tokens that refresh through `connection_refresh`."""

from __future__ import annotations

from integrations.conf import quickbooks_config
from integrations.exceptions import NotConnected, ReconnectRequired
from integrations.models import ConnectionStatus, QuickBooksConnection
from integrations.quickbooks.client import QuickBooksClient


class ConnectionTokens:
    """The client's token provider: the stored access token, refreshed single-flight on a 401."""

    def __init__(self, connection: QuickBooksConnection) -> None:
        self.connection = connection

    def access_token(self) -> str:
        connection = self.connection
        if connection.status == ConnectionStatus.NEEDS_RECONNECT:
            raise ReconnectRequired("QuickBooks needs to be reconnected for this company.")
        if connection.status != ConnectionStatus.CONNECTED or connection.access_token_cipher is None:
            raise NotConnected("QuickBooks is not connected for this company.")
        return connection.access_token_cipher.reveal()

    def refresh_after_rejection(self, rejected_access_token: str) -> str:
        from integrations.services.connections import connection_refresh

        self.connection = connection_refresh(
            connection_id=self.connection.pk, rejected_access_token=rejected_access_token
        )
        return self.access_token()


def client_for(connection: QuickBooksConnection, **kwargs) -> QuickBooksClient:
    """The client for this connection's realm and tokens, and nobody else's."""
    return QuickBooksClient(
        realm_id=connection.realm_id,
        tokens=ConnectionTokens(connection),
        config=quickbooks_config(),
        **kwargs,
    )
