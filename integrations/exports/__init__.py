"""Invoices as QuickBooks files: CSV for QuickBooks Online's invoice import, IIF for QuickBooks Desktop.

books documents (integrations/books) → `csv_renderer` / `iif_renderer` → `services` (what to export, the
record of what each export held, the streamed download) → `views` (the Exports page) and `integrations/api/
exports.py`. Customer guides: docs/customer/integrations/csv-import-quickbooks-online.md and
iif-import-quickbooks-desktop.md.
"""
