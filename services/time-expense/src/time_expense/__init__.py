"""time-expense: approved time and expenses from the PSA into the ERP, exactly once, in order."""

__all__: list[str] = []
