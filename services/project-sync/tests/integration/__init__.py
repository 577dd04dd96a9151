"""project-sync's integration tests, a package so that they share the quote-to-cash stories'
running service (``test_quote_to_cash``) by a relative import: ``project-sync`` is no Python
name, so mypy and pytest name these modules ``integration.*`` from here."""
