"""staffing-sync: hire-to-deploy, workers into the PSA and the ERP, and ranked staffing options."""

__all__: list[str] = []
