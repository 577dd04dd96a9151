"""``tandem erp-company link|show``: a legal entity's ERP company, through a service's API.

The link is made by the service (``PUT /v1/legal-entities/{id}/erp-company``), so it is audited
with the caller's identity (the API key's subject) and the work waiting for it is released.
"""

from __future__ import annotations

import argparse
import json

import httpx

__all__ = ["add_company_commands", "run_company_command"]


def add_company_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``erp-company link`` and ``erp-company show``."""
    company = commands.add_parser("erp-company", help="a legal entity's company in an ERP")
    actions = company.add_subparsers(dest="action", required=True)
    for name, what in (("link", "link it (audited)"), ("show", "show the link")):
        action = actions.add_parser(name, help=what)
        action.add_argument("--api", help="the service's API (default: TANDEM_API_URL)")
        action.add_argument("--legal-entity", required=True)
        action.add_argument("--instance", required=True, help="the ERP instance")
        action.add_argument("--json", action="store_true", help="print JSON")
        if name == "link":
            action.add_argument("--company", required=True, help="the company's id in the ERP")
            action.add_argument("--why", required=True, help="why (audited)")


async def run_company_command(
    args: argparse.Namespace,
    api_url: str,
    api_key: str | None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> tuple[int, str]:
    """Call the service; answer (HTTP status, what to print)."""
    path = f"/v1/legal-entities/{args.legal_entity}/erp-company"
    headers = {"X-API-Key": api_key} if api_key else {}
    async with httpx.AsyncClient(
        base_url=api_url, headers=headers, transport=transport, timeout=30
    ) as client:
        if args.action == "link":
            body = {"instance": args.instance, "company": args.company, "why": args.why}
            answer = await client.put(path, json=body)
        else:
            answer = await client.get(path, params={"instance": args.instance})
    try:
        data = answer.json()
    except ValueError:
        return answer.status_code, answer.text
    if not answer.is_success or args.json:
        return answer.status_code, (
            json.dumps(data, indent=2) if args.json else str(data.get("detail", data))
        )
    text = f"{data['legal_entity_id']} is company {data['company']} in {data['instance']}"
    if args.action == "link":
        text += f"; {data.get('released', 0)} waiting message(s) released"
    return answer.status_code, text
