"""Entrypoints: the consumer's router and the HTTP process API."""
