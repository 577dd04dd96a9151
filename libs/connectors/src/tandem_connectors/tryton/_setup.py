"""A legal entity as a Tryton company: currency, company, chart of accounts, fiscal years.

Every step first looks for what an earlier (possibly interrupted) run left, so the whole
set-up can be repeated until it completes. The admin user is granted every company it makes
and reads all of them (``company_filter = all``): Tryton's record rules follow the user's
stored companies, not the call context, so one adapter can serve several legal entities.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from tandem_connectors.tryton._client import TrytonClient
from tandem_connectors.tryton._mapping import company_context
from tandem_contracts.entities import LegalEntity

__all__ = [
    "ensure_chart",
    "ensure_company",
    "ensure_currency",
    "ensure_fiscal_years",
    "ensure_payment_term",
    "ensure_service_category",
]

# Rates against the US dollar, dated the start of the oldest fiscal year the adapter opens.
_CURRENCIES: dict[str, tuple[str, str, Decimal]] = {
    "USD": ("US Dollar", "$", Decimal("1")),
    "EUR": ("Euro", "€", Decimal("0.92")),
    "GBP": ("Pound Sterling", "£", Decimal("0.79")),
    "INR": ("Indian Rupee", "₹", Decimal("83.00")),
    "CAD": ("Canadian Dollar", "CA$", Decimal("1.36")),
    "CHF": ("Swiss Franc", "CHF", Decimal("0.88")),
    "SGD": ("Singapore Dollar", "S$", Decimal("1.34")),
    "AUD": ("Australian Dollar", "A$", Decimal("1.52")),
}
_CHART = ("account", "account_template_root_en")
# The minimal chart's "Foreign Currency Transaction Gain (Loss)": where an invoice in another
# currency than the company's books the difference its lines' and its total's conversions
# leave (Tryton refuses to post such an invoice without the configured accounts).
_EXCHANGE_ACCOUNT = "6.2.1"
_EXCHANGE_FIELDS = ("currency_exchange_credit_account", "currency_exchange_debit_account")
_MOVE_SEQUENCE = ("account", "sequence_type_account_move")
_INVOICE_SEQUENCE = ("account_invoice", "sequence_type_account_invoice")


async def ensure_currency(client: TrytonClient, code: str, *, since: dt.date) -> int:
    """Return the currency ``code``, creating it (with a rate when known) if absent."""
    found = await client.search("currency.currency", [["code", "=", code]], limit=1)
    if found:
        return found[0]
    name, symbol, rate = _CURRENCIES.get(code, (code, code, None))
    values: dict[str, Any] = {"name": name, "code": code, "symbol": symbol}
    if rate is not None:
        values["rates"] = [["create", [{"date": since, "rate": rate}]]]
    [currency] = await client.create("currency.currency", [values])
    return currency


async def ensure_company(
    client: TrytonClient, entity: LegalEntity, *, key: str
) -> tuple[int, bool]:
    """Return the company ``key`` (or named like ``entity``) made, creating it if absent."""
    domain: list[Any] = ["OR", [["party.code", "=", key]], [["party.name", "=", entity.name]]]
    found = await client.search("company.company", domain, limit=1, order=[("id", "ASC")])
    if found:
        await _grant(client, found[0])
        return found[0], False
    since = dt.date(dt.date.today().year - 1, 1, 1)
    currency = await ensure_currency(client, entity.functional_currency, since=since)
    # Consultants spend in the currency of the place: an expense in a currency no company
    # keeps needs it too. Made here, once and in turn (Tryton does not keep codes unique, so
    # concurrent postings must never be the ones to create a currency).
    for code in _CURRENCIES:
        await ensure_currency(client, code, since=since)
    parties = await client.search("party.party", [["code", "=", key]], limit=1)
    if not parties:
        parties = await client.create("party.party", [{"name": entity.name, "code": key}])
    [company] = await client.create(
        "company.company", [{"party": parties[0], "currency": currency}]
    )
    await _grant(client, company)
    return company, True


async def _grant(client: TrytonClient, company: int) -> None:
    [user] = await client.search("res.user", [["login", "=", "admin"]], limit=1)
    [row] = await client.read("res.user", [user], ["companies", "company", "company_filter"])
    if company in row["companies"] and row["company_filter"] == "all":
        return
    values: dict[str, Any] = {"companies": [["add", [company]]], "company_filter": "all"}
    if row["company"] is None:
        values["company"] = company
    await client.write("res.user", [user], values)


async def ensure_chart(client: TrytonClient, company: int) -> None:
    """Create the company's chart of accounts from the minimal template, and its defaults
    (receivable, payable, currency exchange), each set once, on a company made before too."""
    context = company_context(company)
    if not await client.search("account.account", [["company", "=", company]], limit=1):
        template = await client.call("ir.model.data", "get_id", *_CHART)
        account = {"company": company, "account_template": template}
        async with client.wizard("account.create_chart", context=context) as execute:
            await execute("create_account", {"account": account})
    fields = ["default_account_receivable", *_EXCHANGE_FIELDS]
    [config] = await client.read("account.configuration", [1], fields, context=context)
    if config["default_account_receivable"] is None:
        await _properties(client, company)
    if any(config[field] is None for field in _EXCHANGE_FIELDS):
        await _exchange_accounts(client, company)


async def _properties(client: TrytonClient, company: int) -> None:
    """Set the default receivable and payable accounts (the chart wizard's last step)."""
    properties: dict[str, Any] = {"company": company}
    for kind in ("receivable", "payable"):
        domain = [["company", "=", company], [f"type.{kind}", "=", True], ["closed", "!=", True]]
        [properties[f"account_{kind}"]] = await client.search("account.account", domain, limit=1)
    async with client.wizard("account.create_chart", context=company_context(company)) as run:
        await run("create_properties", {"properties": properties})


async def _exchange_accounts(client: TrytonClient, company: int) -> None:
    """Book exchange gains and losses on the chart's exchange account; a company whose chart
    has none (not made by the adapter) is left for a person to configure."""
    domain = [["company", "=", company], ["code", "=", _EXCHANGE_ACCOUNT], ["closed", "!=", True]]
    found = await client.search("account.account", domain, limit=1)
    if found:
        values = dict.fromkeys(_EXCHANGE_FIELDS, found[0])
        await client.write("account.configuration", [1], values, context=company_context(company))


async def ensure_fiscal_years(client: TrytonClient, company: int, years: range) -> None:
    """Open each of ``years`` with monthly periods and strict move and invoice sequences."""
    context = company_context(company)
    rows = await client.search_read(
        "account.fiscalyear", [["company", "=", company]], ["start_date", "periods"]
    )
    have = {row["start_date"].year for row in rows}
    made = [await _fiscal_year(client, company, year) for year in years if year not in have]
    # A run interrupted after creating a year but before its periods finishes it here.
    bare = [row["id"] for row in rows if not row["periods"]]
    if made or bare:
        await client.call("account.fiscalyear", "create_period", made + bare, context=context)


async def _fiscal_year(client: TrytonClient, company: int, year: int) -> int:
    context = company_context(company)
    move_type = await client.call("ir.model.data", "get_id", *_MOVE_SEQUENCE)
    invoice_type = await client.call("ir.model.data", "get_id", *_INVOICE_SEQUENCE)
    move, invoice = await client.create(
        "ir.sequence.strict",
        [
            {"name": f"Moves {year}", "sequence_type": move_type, "company": company},
            {"name": f"Invoices {year}", "sequence_type": invoice_type, "company": company},
        ],
        context=context,
    )
    sequences = {
        f"{direction}_{kind}_sequence": invoice
        for direction in ("out", "in")
        for kind in ("invoice", "credit_note")
    }
    values = {
        "name": str(year),
        "company": company,
        "start_date": dt.date(year, 1, 1),
        "end_date": dt.date(year, 12, 31),
        "move_sequence": move,
        "invoice_sequences": [["create", [{"company": company, **sequences}]]],
    }
    [fiscal_year] = await client.create("account.fiscalyear", [values], context=context)
    return fiscal_year


async def ensure_payment_term(client: TrytonClient, days: int) -> int:
    """Return the payment term ``Net <days>``, creating it if absent."""
    name = f"Net {days}"
    found = await client.search("account.invoice.payment_term", [["name", "=", name]], limit=1)
    if found:
        return found[0]
    line = {"type": "remainder", "relativedeltas": [["create", [{"days": days}]]]}
    values = {"name": name, "lines": [["create", [line]]]}
    [term] = await client.create("account.invoice.payment_term", [values])
    return term


async def ensure_service_category(client: TrytonClient, company: int, name: str) -> int:
    """Return the service category ``name``, with the company's revenue and expense accounts."""
    context = company_context(company)
    found = await client.search("product.category", [["name", "=", name]], limit=1)
    if not found:
        found = await client.create("product.category", [{"name": name, "accounting": True}])
    accounts = {}
    for kind in ("revenue", "expense"):
        domain = [["company", "=", company], [f"type.{kind}", "=", True], ["closed", "!=", True]]
        [accounts[f"account_{kind}"]] = await client.search("account.account", domain, limit=1)
    # The accounts are per company in Tryton: writing them in this context sets this company's.
    await client.write("product.category", found, accounts, context=context)
    return found[0]
