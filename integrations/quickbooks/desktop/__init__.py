"""QuickBooks Desktop through the Web Connector (QBWC): the SOAP endpoint, the qbXML renderer and parser, and
the per-company request queue fed by the shared outbox. See docs/developer/quickbooks-desktop.md."""
