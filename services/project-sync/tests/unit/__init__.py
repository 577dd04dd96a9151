"""project-sync's unit tests, a package so that they import their story helper (``q2c``)
relatively: ``project-sync`` is no Python name, so mypy and pytest name these modules
``unit.*`` from here, apart from every other service's tests."""
