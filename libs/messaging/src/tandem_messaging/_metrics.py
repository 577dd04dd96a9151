"""Prometheus metrics of the runtime; one ``Metrics`` per registry."""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["Metrics"]


class Metrics:
    """Counters, gauges and histograms the outbox, relay and consumers update."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        def counter(name: str, doc: str, labels: tuple[str, ...]) -> Counter:
            return Counter(f"tandem_messages_{name}", doc, labels, registry=registry)

        self.published = counter("published", "Events published to the broker", ("event_type",))
        self.handled = counter(
            "handled", "Events handled and committed", ("consumer", "event_type")
        )
        self.failed = counter(
            "failed", "Handler failures by class", ("consumer", "event_type", "failure")
        )
        self.retried = counter("retried", "Messages sent to a retry queue", ("consumer",))
        self.parked = counter("parked", "Messages parked", ("consumer", "reason"))
        self.replayed = counter("replayed", "Parked messages replayed", ("consumer",))
        self.released = counter("released", "Parked messages released", ("consumer",))
        self.duplicates = counter("duplicates", "Duplicates dropped by the inbox", ("consumer",))
        self.stale = counter("stale", "Stale updates skipped", ("consumer",))
        self.handler_seconds = Histogram(
            "tandem_handler_duration_seconds",
            "Handler latency, from start to commit",
            ("consumer", "event_type"),
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=registry,
        )
        self.outbox_lag = Gauge(
            "tandem_outbox_lag_seconds",
            "Age of the oldest unpublished outbox row",
            registry=registry,
        )
        self.paused = Gauge(
            "tandem_consumer_paused",
            "1 while a consumer is paused because a downstream is down",
            ("consumer", "downstream"),
            registry=registry,
        )
        self.partitions_owned = Gauge(
            "tandem_partitions_owned",
            "Partitions of a consumer group this member holds a lease on",
            ("consumer", "member"),
            registry=registry,
        )
        self.partition_depth = Gauge(
            "tandem_partition_depth",
            "Messages ready in a partition's queue, as its owner last saw them",
            ("consumer", "partition"),
            registry=registry,
        )
        self.partition_progress = Gauge(
            "tandem_partition_last_progress_timestamp_seconds",
            "When this member last settled a delivery of the partition (Unix time): while the "
            "partition's depth is above 0, time() minus this is how far it lags",
            ("consumer", "partition"),
            registry=registry,
        )
        self.rebalances = Counter(
            "tandem_partition_rebalances_total",
            "Partition leases changing hands at this member: acquired (free), taken_over "
            "(expired), released (drained and handed back), lost (taken over while held), "
            "fenced (given up, not renewed within 2/3 of the TTL)",
            ("consumer", "reason"),
            registry=registry,
        )
        self.lease_losses = Counter(
            "tandem_partition_lease_losses_total",
            "Leases this member found taken over, or gave up unrenewed, while it held them",
            ("consumer",),
            registry=registry,
        )


_default: Metrics | None = None


def default_metrics() -> Metrics:
    """Return the process-wide metrics on the default registry, created on first use."""
    global _default  # one set of collectors per default registry
    if _default is None:
        _default = Metrics()
    return _default
