"""The Tryton client against a real trytond: values, batches, and failures mapped to types."""

import datetime as dt
from decimal import Decimal

import pytest

from tandem_connectors import (
    AuthenticationFailed,
    NotFound,
    RequestRejected,
    SystemUnavailable,
)
from tandem_connectors.tryton import TrytonClient
from tandem_messaging import DownstreamUnavailable, PermanentError
from tandem_testing import TrytonServer


def client_of(server: TrytonServer, password: str | None = None) -> TrytonClient:
    return TrytonClient(
        server.url, server.database, server.user, password or server.password, instance="test"
    )


async def test_decimals_and_dates_round_trip_through_tryton(tryton: TrytonServer) -> None:
    async with client_of(tryton) as erp:
        # A currency with a dated rate: a Decimal and a date go in ...
        [currency] = await erp.create(
            "currency.currency",
            [
                {
                    "name": "Euro",
                    "symbol": "€",
                    "code": "EUR",
                    "rates": [
                        ["create", [{"date": dt.date(2026, 11, 1), "rate": Decimal("1.0850")}]]
                    ],
                }
            ],
        )
        # ... and come back as the same Python values.
        [rate] = await erp.search_read(
            "currency.currency.rate", [["currency", "=", currency]], ["date", "rate"]
        )
    assert rate["date"] == dt.date(2026, 11, 1)
    assert rate["rate"] == Decimal("1.0850")


async def test_a_batched_create_writes_every_record_in_one_call(tryton: TrytonServer) -> None:
    async with client_of(tryton) as erp:
        ids = await erp.create("party.party", [{"name": f"Customer {i:03d}"} for i in range(200)])
        rows = await erp.search_read(
            "party.party", [["name", "like", "Customer %"]], ["name"], order=[("name", "ASC")]
        )
    assert len(set(ids)) == 200
    assert [r["name"] for r in rows] == [f"Customer {i:03d}" for i in range(200)]


async def test_a_validation_error_is_permanent_with_trytons_message(tryton: TrytonServer) -> None:
    async with client_of(tryton) as erp:
        with pytest.raises(RequestRejected) as caught:
            await erp.create("currency.currency", [{"symbol": "?"}])
    assert isinstance(caught.value, PermanentError)
    assert caught.value.reason == "erp_rejected"
    assert 'A value is required for field "Code"' in str(caught.value)


async def test_an_unknown_model_is_not_found(tryton: TrytonServer) -> None:
    async with client_of(tryton) as erp:
        with pytest.raises(NotFound, match=r"no model 'nope\.nope'"):
            await erp.search_read("nope.nope", [], ["id"])


async def test_refused_credentials_are_an_outage_not_a_parking_reason(
    tryton: TrytonServer,
) -> None:
    async with client_of(tryton, password="wrong") as erp:
        with pytest.raises(AuthenticationFailed) as caught:
            await erp.search_read("party.party", [], ["id"])
    assert isinstance(caught.value, DownstreamUnavailable)
    assert caught.value.downstream == "erp:test"


async def test_an_unreachable_server_is_transient(tryton: TrytonServer) -> None:
    # The same database name behind an address where nothing listens.
    down = TrytonClient("http://127.0.0.1:1", tryton.database, "admin", "admin", instance="down")
    async with down:
        with pytest.raises(SystemUnavailable) as caught:
            await down.search_read("party.party", [], ["id"])
    assert caught.value.downstream == "erp:down"
    assert "unreachable" in str(caught.value)
