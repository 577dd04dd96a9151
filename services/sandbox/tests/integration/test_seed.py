from datetime import datetime

import httpx

from tandem_sandbox import Sandbox, seed
from tandem_sandbox.scenario import generate


async def test_seeding_a_generated_firm_fills_all_four_systems(sandbox: Sandbox) -> None:
    firm = generate(7)
    counts = await seed(sandbox.store, firm)
    assert counts["crm/opportunities"] == len(firm.opportunities)
    assert counts["psa/time-entries"] == len(firm.time_entries)
    assert counts["hris/workers"] == len(firm.workers)
    assert counts["erp/accounting-periods"] == len(firm.periods)
    urls = sandbox.urls
    async with httpx.AsyncClient() as client:
        project = (await client.get(f"{urls['psa']}/v1/projects/{firm.projects[0].id}")).json()
        worker = (await client.get(f"{urls['hris']}/v1/workers/{firm.workers[0].id}")).json()
        taxed = next(c for c in firm.customers if c.tax_profile.vat_id_validated_at)
        account = (await client.get(f"{urls['crm']}/v1/accounts/{taxed.id}")).json()
        unchecked = next(
            c
            for c in firm.customers
            if c.tax_profile.vat_id and not c.tax_profile.vat_id_validated_at
        )
        unchecked_account = (await client.get(f"{urls['crm']}/v1/accounts/{unchecked.id}")).json()
        closed = next(p for p in firm.periods if p.status == "closed")
        customer = next(c for c in firm.customers if c.legal_entity_id == closed.legal_entity_id)
        again = await client.post(
            f"{urls['erp']}/v1/customers",
            json={
                "external_id": customer.id,
                "name": customer.name,
                "subsidiary_id": customer.legal_entity_id,
                "currency": customer.currency,
                "country": customer.country,
                "terms_days": customer.payment_terms_days,
                "vat_id": customer.tax_profile.vat_id,
            },
        )
    assert project["name"] == firm.projects[0].name
    assert worker["worker_number"] == firm.workers[0].worker_number
    assert account["tax_id"] == taxed.tax_profile.vat_id  # the CRM account carries its VAT id
    # ... and when its VIES check confirmed it, or nothing when it was never checked.
    validated_at = datetime.fromisoformat(account["vat_validated_at"])
    assert validated_at == taxed.tax_profile.vat_id_validated_at
    assert unchecked_account["tax_id"] == unchecked.tax_profile.vat_id
    assert unchecked_account["vat_validated_at"] is None
    # The seeded ERP customer answers an upsert by its external id: the same record.
    assert again.status_code == 200
    assert again.json()["id"] == customer.id
