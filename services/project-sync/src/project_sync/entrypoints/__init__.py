"""project-sync's process API (``/v1``)."""
