"""Mounted at /simulator/ only when QUICKBOOKS_ENVIRONMENT == "simulator" (see config/urls.py).

Paths mirror Intuit's: OAuth under oauth2/…, the Accounting API under v3/company/<realm>/… (no trailing
slashes, case-sensitive entity names). The control API and pages are the simulator's own.
"""

from django.urls import path, re_path

from .views import api, common, control, oauth, pages

app_name = "simulator"

company = "v3/company/<str:realm_id>/"

urlpatterns = [
    # Pages
    path("", pages.index, name="index"),
    path("companies/<str:realm_id>/disconnect", pages.disconnect, name="disconnect"),
    path("companies/<str:realm_id>/<str:section>", pages.company_section, name="company-section"),
    path(
        "companies/<str:realm_id>/invoices/<str:invoice_id>/receive-payment",
        pages.receive_payment,
        name="receive-payment",
    ),
    path("companies/<str:realm_id>/customers/new", pages.new_customer, name="new-customer"),
    path("companies/<str:realm_id>/invoices/new", pages.new_invoice, name="new-invoice"),
    path(
        "companies/<str:realm_id>/<str:entity_slug>/<str:entity_id>/<str:operation>",
        pages.void_or_delete,
        name="void-or-delete",
    ),
    path("webhooks", pages.update_webhooks, name="webhooks"),
    path("webhooks/flush", pages.flush_webhooks, name="flush-webhooks"),
    path("faults/arm", pages.arm_fault, name="arm-fault"),
    path("faults/clear", pages.clear_faults, name="clear-faults"),
    path("settings", pages.update_settings, name="settings"),
    path("reset", pages.reset, name="reset"),
    # OAuth 2.0
    path("oauth2/authorize", oauth.authorize, name="authorize"),
    path("oauth2/v1/tokens/bearer", oauth.token, name="token"),
    path("oauth2/v1/tokens/revoke", oauth.revoke, name="revoke"),
    path("oauth2/v1/openid_connect/userinfo", oauth.userinfo, name="userinfo"),
    path("oauth2/v1/jwks", oauth.jwks, name="jwks"),
    # Intuit's discovery paths (production and sandbox), with and without a trailing slash.
    path(".well-known/openid_configuration", oauth.discovery, name="discovery"),
    path(".well-known/openid_configuration/", oauth.discovery),
    path(".well-known/openid_sandbox_configuration", oauth.discovery),
    path(".well-known/openid_sandbox_configuration/", oauth.discovery),
    # Accounting API
    path(company + "companyinfo/<str:company_id>", api.company_info, name="companyinfo"),
    path(company + "preferences", api.preferences, name="preferences"),
    path(company + "query", api.query, name="query"),
    path(company + "batch", api.batch, name="batch"),
    path(company + "cdc", api.cdc, name="cdc"),
    path(company + "<str:entity_slug>", api.write_entity, name="entity-write"),
    path(company + "<str:entity_slug>/<str:entity_id>", api.read_entity, name="entity-read"),
    # Control API (JSON, for tests and scripts)
    path("control/faults", control.faults_view, name="control-faults"),
    path("control/reset", control.reset_view, name="control-reset"),
    path("control/state", control.state_view, name="control-state"),
    path("control/settings", control.settings_view, name="control-settings"),
    path("control/latency", control.latency_view, name="control-latency"),
    path("control/tokens", control.tokens_view, name="control-tokens"),
    path(
        "control/companies/<str:realm_id>/invoices/<str:invoice_id>/payment",
        control.receive_payment_view,
        name="control-receive-payment",
    ),
    path("control/companies/<str:realm_id>/customers", control.create_customer_view, name="control-customers"),
    path("control/companies/<str:realm_id>/invoices", control.create_invoice_view, name="control-invoices"),
    path(
        "control/companies/<str:realm_id>/<str:entity_slug>/<str:entity_id>/<str:operation>",
        control.void_or_delete_view,
        name="control-void-or-delete",
    ),
    path("control/webhooks", control.webhooks_view, name="control-webhooks"),
    path("control/webhooks/flush", control.webhooks_flush_view, name="control-webhooks-flush"),
    path("control/webhooks/deliveries", control.webhooks_deliveries_view, name="control-webhooks-deliveries"),
    # Everything else under /simulator/: a JSON Fault (404), never Django's HTML page.
    re_path(r"^(?P<rest>.*)$", common.unknown_path, name="unknown"),
]
