from attune_qbo.core.exceptions import ApplicationError, Conflict, ValidationError


class InvoiceValidationError(ValidationError):
    code = "invoice_invalid"


class InvoiceStateError(Conflict):
    code = "invoice_state"


class PaymentRefused(ApplicationError):
    code = "payment_refused"
