"""The neutral books document and its builder (issue 12): billing models + mappings → plain dataclasses
(`document.py`, no Django) that every QuickBooks renderer reads — QBO JSON, qbXML (Desktop), IIF and CSV.

    from integrations.books.builder import BooksMappings, books_batch, books_invoices
    batch = books_batch(company=company, invoice_ids=ids, realm_id=connection.realm_id or None)
    for invoice in batch.invoices:           # BooksInvoice
        invoice.customer.name, invoice.customer.id   # Desktop/CSV use names, Online uses ids
        for line in invoice.lines: line.item.name, line.amount, line.tax_amount
        for tax in invoice.tax_lines: tax.tax_code.name, tax.amount

Names from our data are leaf names (`document.clean_name`: no tabs/newlines, ":" → " - "); names from a
QuickBooks mapping are QuickBooks full names, kept as they are. Amounts are Decimal, dates `date`. Each
invoice balances: total == sum(line.amount) + sum(tax.amount), and sum(line.tax_amount) == tax_total.
`preflight.py` is the QuickBooks Online side: pre-flight checks and mapping resolution that turn one invoice into
a `BooksInvoice` with Online ids (`PushPlan.document`), or refuse it (`PushRefused`, `MappingIncomplete`).
See docs/developer/books-document.md and docs/decisions/0016.
"""
