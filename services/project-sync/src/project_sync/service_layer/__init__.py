"""project-sync's use cases: customers, the saga runner, ingestion, jobs."""
