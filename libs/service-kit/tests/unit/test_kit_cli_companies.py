"""``tandem erp-company``: the link goes through the service's API, with the caller's key."""

from __future__ import annotations

import json

import httpx

from tandem_service_kit._cli_companies import run_company_command
from tandem_service_kit.cli import build_parser


def service(seen: list[httpx.Request], status: int, body: dict[str, object]) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, json=body)

    return httpx.MockTransport(answer)


async def test_link_puts_the_link_with_the_key_and_reports_what_was_released() -> None:
    seen: list[httpx.Request] = []
    args = build_parser().parse_args(
        ["erp-company", "link", "--legal-entity", "le-de", "--instance", "tryton",
         "--company", "7", "--why", "company made by hand in the ERP"]
    )  # fmt: skip
    linked = {"legal_entity_id": "le-de", "instance": "tryton", "company": "7", "released": 3}
    status, text = await run_company_command(
        args, "http://te", "secret-key", transport=service(seen, 200, linked)
    )
    [request] = seen
    assert (request.method, request.url.path) == ("PUT", "/v1/legal-entities/le-de/erp-company")
    assert request.headers["X-API-Key"] == "secret-key"
    assert json.loads(request.content) == {
        "instance": "tryton",
        "company": "7",
        "why": "company made by hand in the ERP",
    }
    assert status == 200
    assert text == "le-de is company 7 in tryton; 3 waiting message(s) released"


async def test_a_refusal_is_reported_with_the_services_reason() -> None:
    args = build_parser().parse_args(
        ["erp-company", "show", "--legal-entity", "le-xx", "--instance", "tryton"]
    )
    problem = {"status": 404, "detail": "le-xx has no company linked in tryton"}
    status, text = await run_company_command(args, "http://te", None, service([], 404, problem))
    assert (status, text) == (404, "le-xx has no company linked in tryton")
