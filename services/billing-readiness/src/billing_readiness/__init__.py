"""billing-readiness: posted time, expenses, milestones and fees into charges, holds and
invoices in the ERP, to the cent."""

__all__: list[str] = []
