"""Several broker URLs in one setting: split, redacted, and the first node that answers wins."""

from __future__ import annotations

import asyncpg
import pytest
from pydantic import ValidationError

from tandem_service_kit import ServiceSettings, open_resources
from tandem_service_kit._resources import ClusterConnection, broker_urls
from tandem_service_kit._settings import redact_url
from tandem_testing import free_port


def test_a_comma_separated_setting_names_each_node() -> None:
    settings = ServiceSettings(
        service_name="faults",
        amqp_url=" amqp://u:s3cr3tpw@rabbit-0:5672/vh , amqp://u:s3cr3tpw@rabbit-1:5672/vh,",
    )
    assert broker_urls(settings.amqp_url) == [
        "amqp://u:s3cr3tpw@rabbit-0:5672/vh",
        "amqp://u:s3cr3tpw@rabbit-1:5672/vh",
    ]
    assert "s3cr3tpw" not in redact_url(settings.amqp_url)
    assert "s3cr3tpw" not in repr(settings)
    with pytest.raises(ValidationError):
        ServiceSettings(service_name="faults", amqp_url=" , ")


async def test_the_process_connects_to_a_node_that_answers(
    amqp_url: str, database_url: str
) -> None:
    # The first node listed is away: the process takes the next instead of waiting.
    away = f"amqp://guest:guest@127.0.0.1:{free_port()}/"
    settings = ServiceSettings(
        service_name="faults", database_url=database_url, amqp_url=f"{away},{amqp_url}"
    )
    async with open_resources(settings) as (pool, broker):
        assert isinstance(pool, asyncpg.Pool)
        assert isinstance(broker, ClusterConnection)
        assert str(broker.url.port) in amqp_url
        channel = await broker.channel()
        await channel.close()


async def test_one_url_is_a_plain_robust_connection(amqp_url: str, database_url: str) -> None:
    settings = ServiceSettings(service_name="faults", database_url=database_url, amqp_url=amqp_url)
    async with open_resources(settings) as (_, broker):
        assert isinstance(broker, ClusterConnection)
        assert broker.urls == (broker.url,)
        assert not broker.is_closed
