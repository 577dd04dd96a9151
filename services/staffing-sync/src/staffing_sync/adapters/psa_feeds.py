"""The change feeds of the PSA staffing-sync reads: the PSA port's, and its rate cards'.

The connectors' PSA port polls the feeds it reads records of (bookings, resource requests, ...)
and not the rate cards, which only staffing-sync reads; their collection is polled here the
same way (``RecordChanges``: keyset on ``updated_at`` and id), over an HTTP target of the same
instance settings (its own token bucket, closed with the service's exit stack).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AsyncExitStack

from tandem_connectors.http import HttpTarget
from tandem_connectors.polling import ChangeSource
from tandem_connectors.ports import AbstractPsa
from tandem_connectors.ratelimit import TokenBucket
from tandem_connectors.rest import RecordChanges
from tandem_connectors.systems import HttpInstance

__all__ = ["psa_changes"]


def psa_changes(
    psa: AbstractPsa,
    name: str,
    config: HttpInstance,
    stack: AsyncExitStack,
    rate_cards_feed: str,
) -> Callable[[str], ChangeSource]:
    """The change source of each PSA feed: ``rate_cards_feed`` read here, the others by the
    port."""
    target = HttpTarget(
        config.url, downstream=f"psa:{name}",
        bucket=TokenBucket(config.requests_per_second, config.burst), timeout=config.timeout_s,
    )  # fmt: skip
    stack.push_async_callback(target.aclose)
    rate_cards = RecordChanges(target, f"/v1/{rate_cards_feed}")

    def changes(feed: str) -> ChangeSource:
        return rate_cards if feed == rate_cards_feed else psa.change_source(feed)

    return changes
