"""Static reference data the generator draws from: entities, currencies, roles, skills, names."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

__all__ = [
    "COUNTRIES",
    "ENTITIES",
    "EU_COUNTRIES",
    "NAME_STEMS",
    "NAME_TRADES",
    "PRACTICES",
    "REGIONS",
    "ROLES",
    "SKILLS",
    "USD_VALUE",
    "US_STATES",
    "CountrySpec",
    "EntitySpec",
    "RoleSpec",
]


@dataclass(frozen=True)
class EntitySpec:
    """A legal entity of the firm and how its people cost relative to the US."""

    key: str
    name: str
    country: str
    currency: str
    residency: str
    region: str
    tax_id: str | None
    share: float
    cost_factor: Decimal


ENTITIES = (
    EntitySpec("us", "Tandem Advisory Inc.", "US", "USD", "us", "americas", None, 0.34, Decimal(1)),
    EntitySpec("uk", "Tandem Advisory Ltd", "GB", "GBP", "uk", "emea", "GB284619733", 0.16,
               Decimal("0.85")),
    EntitySpec("de", "Tandem Advisory GmbH", "DE", "EUR", "eu", "emea", "DE298765432", 0.16,
               Decimal("0.9")),
    EntitySpec("in", "Tandem Advisory India Pvt Ltd", "IN", "INR", "in", "apac",
               "29AABCT1234F1Z5", 0.27, Decimal("0.3")),
    EntitySpec("sg", "Tandem Advisory Pte Ltd", "SG", "SGD", "apac", "apac", "M90312345A", 0.07,
               Decimal("0.8")),
)  # fmt: skip

# What one unit is worth in USD around the scenario month; FX rates wander around these.
USD_VALUE = {
    "USD": Decimal(1),
    "GBP": Decimal("1.27"),
    "EUR": Decimal("1.08"),
    "INR": Decimal("0.012"),
    "SGD": Decimal("0.74"),
    "CAD": Decimal("0.73"),
    "CHF": Decimal("1.12"),
    "AUD": Decimal("0.66"),
}

REGIONS = (("americas", "Americas"), ("emea", "EMEA"), ("apac", "APAC"))

PRACTICES = (
    ("strategy", "Strategy & Transformation"),
    ("data", "Data & AI"),
    ("cloud", "Cloud & Platforms"),
    ("erp", "ERP & Finance"),
    ("security", "Cyber Security"),
)


@dataclass(frozen=True)
class RoleSpec:
    """A delivery role: USD bill and cost rates, how common it is, whether it approves time."""

    name: str
    bill_usd: int
    cost_usd: int
    weight: int
    approver: bool = False


ROLES = (
    RoleSpec("Analyst", 150, 55, 18),
    RoleSpec("Consultant", 190, 70, 24),
    RoleSpec("Senior Consultant", 240, 90, 20),
    RoleSpec("Manager", 290, 110, 12, approver=True),
    RoleSpec("Senior Manager", 340, 130, 7, approver=True),
    RoleSpec("Director", 400, 160, 4, approver=True),
    RoleSpec("Partner", 500, 210, 2, approver=True),
    RoleSpec("Solution Architect", 310, 120, 5),
    RoleSpec("Data Scientist", 260, 100, 5),
    RoleSpec("Cloud Engineer", 230, 88, 6),
    RoleSpec("Project Manager", 250, 95, 5, approver=True),
)

# (name, category, practice key or None for cross-practice, is a certification)
SKILLS = (
    ("Operating model design", "strategy", "strategy", False),
    ("Business case modelling", "strategy", "strategy", False),
    ("Change management", "strategy", "strategy", False),
    ("Pricing strategy", "strategy", "strategy", False),
    ("Python", "data", "data", False),
    ("SQL", "data", "data", False),
    ("Machine learning", "data", "data", False),
    ("Databricks Data Engineer", "data", "data", True),
    ("Power BI", "data", "data", False),
    ("Generative AI", "data", "data", False),
    ("AWS Solutions Architect", "cloud", "cloud", True),
    ("Azure Administrator", "cloud", "cloud", True),
    ("Kubernetes", "cloud", "cloud", False),
    ("Terraform", "cloud", "cloud", False),
    ("SAP S/4HANA Finance", "erp", "erp", True),
    ("NetSuite", "erp", "erp", True),
    ("Workday Financials", "erp", "erp", True),
    ("Financial close", "erp", "erp", False),
    ("ISO 27001 Lead Auditor", "security", "security", True),
    ("Threat modelling", "security", "security", False),
    ("Identity and access management", "security", "security", False),
    ("Agile delivery", "delivery", None, False),
    ("PRINCE2 Practitioner", "delivery", None, True),
    ("Stakeholder management", "delivery", None, False),
    ("German", "language", None, False),
)


@dataclass(frozen=True)
class CountrySpec:
    """A customer country: billing currency, selling entity, VAT id shape and legal suffixes."""

    code: str
    currency: str
    entity: str
    weight: int
    vat_prefix: str | None
    suffixes: tuple[str, ...]


COUNTRIES = (
    CountrySpec("US", "USD", "us", 16, None, ("Inc.", "Corp.", "LLC")),
    CountrySpec("CA", "CAD", "us", 3, None, ("Ltd.", "Inc.")),
    CountrySpec("GB", "GBP", "uk", 8, "GB", ("plc", "Ltd")),
    CountrySpec("IE", "EUR", "uk", 2, "IE", ("DAC", "Ltd")),
    CountrySpec("DE", "EUR", "de", 7, "DE", ("GmbH", "AG", "SE")),
    CountrySpec("FR", "EUR", "de", 3, "FR", ("SA", "SAS")),
    CountrySpec("NL", "EUR", "de", 3, "NL", ("B.V.", "N.V.")),
    CountrySpec("ES", "EUR", "de", 2, "ES", ("S.A.", "S.L.")),
    CountrySpec("IT", "EUR", "de", 2, "IT", ("S.p.A.", "S.r.l.")),
    CountrySpec("AT", "EUR", "de", 1, "ATU", ("GmbH", "AG")),
    CountrySpec("CH", "CHF", "de", 2, "CHE", ("AG", "SA")),
    CountrySpec("IN", "INR", "in", 5, None, ("Ltd", "Pvt Ltd")),
    CountrySpec("SG", "SGD", "sg", 3, None, ("Pte Ltd",)),
    CountrySpec("AU", "AUD", "sg", 2, None, ("Pty Ltd",)),
)

EU_COUNTRIES = frozenset({"IE", "DE", "FR", "NL", "ES", "IT", "AT"})

US_STATES = ("US-NY", "US-CA", "US-TX", "US-IL", "US-MA", "US-WA", "US-GA")

NAME_STEMS = (
    "Aldermoor", "Brightwater", "Cobalt", "Dunmore", "Eastbrook", "Fernhill", "Granite",
    "Harbour", "Ironvale", "Juniper", "Kestrel", "Larchmont", "Meridian", "Northgate", "Oakridge",
    "Pinecrest", "Quayside", "Redfern", "Silverline", "Thornbury", "Upland", "Vantage",
    "Westmere", "Yarrow", "Zenith",
)  # fmt: skip
NAME_TRADES = (
    "Logistics", "Health", "Capital", "Energy", "Retail", "Foods", "Insurance", "Manufacturing",
    "Telecom", "Pharma", "Media", "Mobility", "Bank", "Utilities", "Aerospace",
)  # fmt: skip

CITIES = {
    "US": ("New York, NY", "Chicago, IL", "Austin, TX", "Boston, MA", "Seattle, WA"),
    "CA": ("Toronto, ON", "Vancouver, BC"),
    "GB": ("London", "Manchester", "Edinburgh"),
    "IE": ("Dublin", "Cork"),
    "DE": ("Berlin", "Munich", "Hamburg", "Frankfurt am Main"),
    "FR": ("Paris", "Lyon"),
    "NL": ("Amsterdam", "Rotterdam"),
    "ES": ("Madrid", "Barcelona"),
    "IT": ("Milan", "Rome"),
    "AT": ("Vienna",),
    "CH": ("Zurich", "Geneva"),
    "IN": ("Bengaluru", "Mumbai", "Pune"),
    "SG": ("Singapore",),
    "AU": ("Sydney", "Melbourne"),
}

# Fixed-date public holidays (month, day) per work country; nobody books time on them.
HOLIDAYS = {
    "US": ((1, 1), (7, 4), (12, 25)),
    "GB": ((1, 1), (12, 25), (12, 26)),
    "DE": ((1, 1), (5, 1), (10, 3), (12, 25), (12, 26)),
    "IN": ((1, 26), (8, 15), (10, 2)),
    "SG": ((1, 1), (8, 9), (12, 25)),
}

PROJECT_NAMES = {
    "strategy": ("Operating Model Redesign", "Cost Transformation", "Market Entry Study"),
    "data": ("Data Platform Modernisation", "Customer 360 Analytics", "Demand Forecasting",
             "GenAI Assistant Pilot"),
    "cloud": ("Cloud Migration Wave 2", "Landing Zone Build", "Platform Reliability Programme"),
    "erp": ("S/4HANA Finance Rollout", "NetSuite Implementation", "Financial Close Acceleration",
            "Procure-to-Pay Optimisation"),
    "security": ("Identity Modernisation", "ISO 27001 Readiness", "Security Operations Uplift"),
}  # fmt: skip

PHASES = ("Discovery", "Design", "Build", "Test", "Deploy", "Hypercare")
TASKS = (
    "Stakeholder workshops", "Requirements", "Solution design", "Configuration",
    "Data migration", "Integration build", "Testing", "Training", "Cutover", "Reporting",
    "Project management",
)  # fmt: skip
NON_BILLABLE_TASK = "Internal quality review"

NOTES = (
    "Workshop with the client's finance team on the target data model",
    "Steering committee prep and status report",
    "Reworked the migration scripts after UAT feedback",
    "Pairing with client engineers on the deployment pipeline",
    "Interviews with regional sales leads",
    "Fixed reconciliation breaks in the intercompany mapping",
    "Travel day, worked on the slide deck on the train",
)
