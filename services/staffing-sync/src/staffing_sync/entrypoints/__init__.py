"""staffing-sync's process API (``/v1``)."""
