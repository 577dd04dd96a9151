"""staffing-sync's adapters: SQL repositories, the unit of work, the API's read side."""
