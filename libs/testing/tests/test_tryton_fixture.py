"""The ``tryton`` fixture gives each test a real, isolated Tryton ERP speaking JSON-RPC."""

import base64

import httpx
import pytest

from tandem_testing import TrytonServer


def rpc(server: TrytonServer, method: str, params: list[object], session: str | None = None):
    headers = {"Authorization": f"Session {session}"} if session else {}
    reply = httpx.post(
        server.rpc_url, json={"id": 1, "method": method, "params": params}, headers=headers
    )
    reply.raise_for_status()
    body = reply.json()
    assert "error" not in body, body
    return body["result"]


def login(server: TrytonServer) -> str:
    user_id, token, _ = rpc(server, "common.db.login", [server.user, {"password": server.password}])
    return base64.b64encode(f"{server.user}:{user_id}:{token}".encode()).decode()


@pytest.mark.parametrize("run", [1, 2])
def test_each_test_gets_its_own_tryton_database(tryton: TrytonServer, run: int) -> None:
    session = login(tryton)
    # The project and timesheet modules of the template are active.
    modules = rpc(
        tryton,
        "model.ir.module.search_read",
        [
            [["name", "in", ["project_invoice", "timesheet_cost"]], ["state", "=", "activated"]],
            0,
            None,
            None,
            ["name"],
            {},
        ],
        session,
    )
    assert sorted(m["name"] for m in modules) == ["project_invoice", "timesheet_cost"]
    # A party written here is the only one of its name: the other run's copy never sees it.
    [party_id] = rpc(
        tryton, "model.party.party.create", [[{"name": "Isolation Check"}], {}], session
    )
    found = rpc(
        tryton,
        "model.party.party.search",
        [[["name", "=", "Isolation Check"]], 0, None, None, {}],
        session,
    )
    assert found == [party_id]
