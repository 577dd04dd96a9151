"""staffing-sync's use cases: handlers on ports, composed by ``bootstrap``."""
