"""Tandem's reliable messaging runtime, on aio-pika and asyncpg.

    router = Router(service="time-expense")

    @router.handles(TimeApproved)
    async def post_time(envelope: Envelope[TimeApproved], ctx: HandlerContext) -> None:
        ...                                   # effects through ctx.connection (one transaction)
        await ctx.publish(TimePosted(...), subject_version=2)   # via the outbox

    async with Consumer(router, queue="time-expense.posting", pool=pool, connection=amqp):
        await OutboxRelay(pool, amqp).run(stopping)

Apply the SQL in ``MIGRATIONS`` (schema ``messaging``) before starting.
"""

from pathlib import Path

from tandem_messaging._consumer import Consumer, ConsumerSettings
from tandem_messaging._context import correlation_id
from tandem_messaging._db import DbConnection
from tandem_messaging._dependencies import (
    record_satisfied,
    release,
    release_satisfied,
    waiting_keys,
)
from tandem_messaging._errors import (
    DependencyMissing,
    DownstreamUnavailable,
    HandlerError,
    LeaseLostError,
    MessagingError,
    PermanentError,
    TopologyMismatchError,
    TransientError,
    Verdict,
    classify,
)
from tandem_messaging._inbox import Claim
from tandem_messaging._leases import Lease, assign, member_id
from tandem_messaging._metrics import Metrics, default_metrics
from tandem_messaging._outbox import Outbox, OutboxRelay
from tandem_messaging._parking import (
    DiscardResult,
    ParkedMessage,
    ReplayResult,
    ReplaySelection,
    discard,
    list_parked,
    replay,
)
from tandem_messaging._parking_detail import ParkedDetail, get_parked
from tandem_messaging._partition_status import (
    GroupStatus,
    MemberStatus,
    PartitionStatus,
    partition_status,
)
from tandem_messaging._resize import BrokerBindings, Resized, ResizeError, resize_partitions
from tandem_messaging._retention import purge_inbox
from tandem_messaging._router import (
    Flush,
    Handler,
    HandlerContext,
    ParkedHook,
    Router,
    TransactionScope,
    UnitOfWork,
)
from tandem_messaging._topology import (
    DEAD_LETTER_EXCHANGE,
    PARTITION_HEADER,
    RETRY_EXCHANGE,
    ConsumerTopology,
    binding_for,
    declare_consumer,
    declare_events_exchange,
    hash_exchange,
    partition_header,
    resize_queue,
)
from tandem_messaging._transactions import Transactions, transactions

MIGRATIONS = Path(__file__).parent / "migrations"
"""Directory of the runtime's SQL migrations; apply them before a service's own."""

__all__ = [
    "DEAD_LETTER_EXCHANGE",
    "MIGRATIONS",
    "PARTITION_HEADER",
    "RETRY_EXCHANGE",
    "BrokerBindings",
    "Claim",
    "Consumer",
    "ConsumerSettings",
    "ConsumerTopology",
    "DbConnection",
    "DependencyMissing",
    "DiscardResult",
    "DownstreamUnavailable",
    "Flush",
    "GroupStatus",
    "Handler",
    "HandlerContext",
    "HandlerError",
    "Lease",
    "LeaseLostError",
    "MemberStatus",
    "MessagingError",
    "Metrics",
    "Outbox",
    "OutboxRelay",
    "ParkedDetail",
    "ParkedHook",
    "ParkedMessage",
    "PartitionStatus",
    "PermanentError",
    "ReplayResult",
    "ReplaySelection",
    "ResizeError",
    "Resized",
    "Router",
    "TopologyMismatchError",
    "TransactionScope",
    "Transactions",
    "TransientError",
    "UnitOfWork",
    "Verdict",
    "assign",
    "binding_for",
    "classify",
    "correlation_id",
    "declare_consumer",
    "declare_events_exchange",
    "default_metrics",
    "discard",
    "get_parked",
    "hash_exchange",
    "list_parked",
    "member_id",
    "partition_header",
    "partition_status",
    "purge_inbox",
    "record_satisfied",
    "release",
    "release_satisfied",
    "replay",
    "resize_partitions",
    "resize_queue",
    "transactions",
    "waiting_keys",
]
