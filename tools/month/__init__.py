"""A month of a generated firm, played through Tandem on local systems (``make run``, benches)."""
