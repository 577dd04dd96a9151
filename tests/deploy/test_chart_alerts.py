"""charts/tandem's alerts and dashboards watch what the services export, with a runbook each.

The PrometheusRule carries the eight alerts per service with their thresholds (from values) and
the SLO's recording rules; alerts and dashboards use only metrics the services export; the
dashboards ship as Grafana sidecar ConfigMaps; and every alert's runbook_url leads to its own
section of docs/runbook.md. The fixtures are in conftest.py.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from observability.metrics import Metrics as ObservabilityMetrics
from tandem_messaging._metrics import Metrics
from tandem_service_kit._jobs import JobMetrics

from .chart_support import (
    BILLING_READINESS,
    CHART,
    NAMESPACE,
    OBSERVABILITY,
    RELEASE,
    ROOT,
    SECOND_SERVICES,
    SERVICE,
    SERVICES,
    Render,
    Rendered,
    annotations_of,
    deep_merge,
    labels,
    load_values,
    te,
)

ALERTS = {
    "TandemMessagesParked",
    "TandemIntakePaused",
    "TandemOutboxLag",
    "TandemReconciliationMismatches",
    "TandemReconciliationStale",
    "TandemPartitionsUnowned",
    "TandemSLOBurnFast",
    "TandemSLOBurnSlow",
}


def test_alerts_cover_each_service(all_features: Rendered, render: Render) -> None:
    rule = all_features.one("PrometheusRule", f"{RELEASE}-{SERVICE}")
    rules = [r for group in rule["spec"]["groups"] for r in group["rules"]]
    alerts = {r["alert"]: r for r in rules if "alert" in r}
    assert set(alerts) == ALERTS
    base = "https://github.com/tandem/tandem/blob/main/docs/runbook.md#"
    for name, alert in alerts.items():
        assert alert["labels"]["service"] == SERVICE
        assert alert["labels"]["severity"] in {"warning", "critical"}
        assert alert["annotations"]["runbook_url"] == base + name.lower()
        assert f'tandem_service="{SERVICE}"' in alert["expr"]
        assert f'namespace="{NAMESPACE}"' in alert["expr"]
    assert "tandem_messages_parked_total" in alerts["TandemMessagesParked"]["expr"]
    assert "[10m]" in alerts["TandemMessagesParked"]["expr"]
    assert alerts["TandemIntakePaused"]["for"] == "10m"
    assert alerts["TandemOutboxLag"]["expr"].endswith("> 60")
    assert alerts["TandemOutboxLag"]["for"] == "5m"
    assert 'job="reconcile"' in alerts["TandemReconciliationMismatches"]["expr"]
    # all-features reconciles every 1800 s: stale after two intervals.
    assert alerts["TandemReconciliationStale"]["expr"].endswith("> 3600")
    assert alerts["TandemPartitionsUnowned"]["expr"].count("< 8") == 1
    # Multiwindow, multi-burn-rate on 99.9 %: 14.4x over 1h and 5m, 6x over 6h and 30m.
    fast, slow = alerts["TandemSLOBurnFast"], alerts["TandemSLOBurnSlow"]
    assert fast["labels"]["severity"] == "critical"
    assert slow["labels"]["severity"] == "warning"
    for alert, factor, windows in ((fast, "14.4", ("1h", "5m")), (slow, "6", ("6h", "30m"))):
        assert alert["expr"].count(f"({factor} * (1 - 0.999))") == 2
        for window in windows:
            assert f"tandem:messages_park_ratio:rate{window}" in alert["expr"]
    recorded = {r["record"] for r in rules if "record" in r}
    assert recorded == {f"tandem:messages_park_ratio:rate{w}" for w in ("5m", "30m", "1h", "6h")}
    # Thresholds are values; a service opts out.
    tuned = render(
        deep_merge(
            load_values("all-features.yaml"), te(alerts={"outboxLag": {"thresholdSeconds": 300}})
        )
    )
    lag = next(
        r
        for g in tuned.one("PrometheusRule", f"{RELEASE}-{SERVICE}")["spec"]["groups"]
        for r in g["rules"]
        if r.get("alert") == "TandemOutboxLag"
    )
    assert lag["expr"].endswith("> 300")
    # A service opts out of its own alerts only.
    quiet = render(deep_merge(load_values("all-features.yaml"), te(alerts={"enabled": False})))
    assert quiet.names("PrometheusRule") == {f"{RELEASE}-{s}" for s in SECOND_SERVICES}


# project-sync, staffing-sync and observability run no `reconcile` job: each has every other
# alert, on its own series; billing-readiness reconciles its invoices with the ERP's and has
# them all. Observability's rule also carries Tandem's SLOs (test_slo_rules.py).
SECOND_SERVICE_ALERTS = ALERTS - {"TandemReconciliationMismatches", "TandemReconciliationStale"}
RECONCILING = {BILLING_READINESS}
SLO_ALERT = "SloErrorBudgetBurn"


def own_rules(rule: dict[str, Any], service: str) -> list[dict[str, Any]]:
    """The rules of a service's own groups (tandem.<service>.*): not Tandem's SLOs."""
    groups = rule["spec"]["groups"]
    return [r for g in groups if g["name"].startswith(f"tandem.{service}.") for r in g["rules"]]


@pytest.mark.parametrize("service", SECOND_SERVICES)
def test_each_second_service_has_its_own_alerts(
    all_features: Rendered, render: Render, service: str
) -> None:
    rule = all_features.one("PrometheusRule", f"{RELEASE}-{service}")
    rules = own_rules(rule, service)
    others = {r.get("alert") for g in rule["spec"]["groups"] for r in g["rules"]} - {None}
    assert others - {r.get("alert") for r in rules} == (
        {SLO_ALERT} if service == OBSERVABILITY else set()
    )
    alerts = {r["alert"]: r for r in rules if "alert" in r}
    assert set(alerts) == (ALERTS if service in RECONCILING else SECOND_SERVICE_ALERTS)
    for alert in alerts.values():
        assert alert["labels"]["service"] == service
        assert f'tandem_service="{service}"' in alert["expr"]
        for other in (s for s in SERVICES if s != service):
            assert f'tandem_service="{other}"' not in alert["expr"]
        assert f'namespace="{NAMESPACE}"' in alert["expr"]
    assert alerts["TandemPartitionsUnowned"]["expr"].count("< 8") == 1
    recorded = {r["record"] for r in rules if "record" in r}
    assert recorded == {f"tandem:messages_park_ratio:rate{w}" for w in ("5m", "30m", "1h", "6h")}
    for record in (r for r in rules if "record" in r):
        assert f'tandem_service="{service}"' in record["expr"]
    # Given a reconcile job after all (or none), it gets the reconciliation alerts (or not).
    switched = render(
        deep_merge(
            load_values("all-features.yaml"),
            {"services": {service: {"alerts": {"reconciliation": {
                "enabled": service not in RECONCILING}}}}},
        )
    )  # fmt: skip
    back = switched.one("PrometheusRule", f"{RELEASE}-{service}")
    names = {r.get("alert") for r in own_rules(back, service)} - {None}
    assert names == (SECOND_SERVICE_ALERTS if service in RECONCILING else ALERTS)


def test_every_service_has_a_rule_and_a_monitor(all_features: Rendered) -> None:
    for service in SERVICES:
        assert all_features.one("PrometheusRule", f"{RELEASE}-{service}")
        assert all_features.one("ServiceMonitor", f"{RELEASE}-{service}")


def test_alerts_and_dashboards_use_metrics_the_services_export(all_features: Rendered) -> None:
    registry = CollectorRegistry()
    Metrics(registry)
    JobMetrics(registry)
    ObservabilityMetrics(registry)  # the SLOs' latency histograms
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}
    exported = {"up"} | {
        family.name + suffix
        for family in registry.collect()
        for suffix in suffixes.get(family.type, ("",))
    }
    texts = [json.dumps(d["spec"]) for d in all_features.of_kind("PrometheusRule")]
    texts += [
        value
        for d in all_features.of_kind("ConfigMap")
        if labels(d).get("grafana_dashboard")
        for value in d["data"].values()
    ]
    used = {name for text in texts for name in re.findall(r"\b(?:tandem_[a-z_]+|up)(?=\{)", text)}
    assert {"tandem_messages_parked_total", "tandem_job_last_found"} <= used
    assert used <= exported, used - exported


def test_dashboards_ship_as_sidecar_configmaps(all_features: Rendered) -> None:
    boards = [d for d in all_features.of_kind("ConfigMap") if labels(d).get("grafana_dashboard")]
    assert len(boards) == len(list((CHART / "dashboards").glob("*.json"))) == 1
    (board,) = boards
    assert labels(board)["grafana_dashboard"] == "1"
    assert annotations_of(board)["grafana_folder"] == "Tandem"
    (text,) = board["data"].values()
    dashboard = json.loads(text)
    assert dashboard["title"] == "Tandem — services"
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert "tandem_service" in variables["service"]["definition"]
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert {p["title"] for p in panels} >= {
        "Handled / s",
        "Parked",
        "Handler latency p50 / p99",
        "Outbox lag",
        "Intake paused",
        "Partitions owned",
        "Job runs",
    }
    for panel in panels:
        assert panel["datasource"]["uid"] == "${datasource}"
        for target in panel["targets"]:
            assert '$service"' in target["expr"], panel["title"]


# --- the runbook -----------------------------------------------------------------------

RUNBOOK = ROOT / "docs" / "runbook.md"
# Where runbook_url points: global.runbookBaseUrl is this repository's docs/runbook.md.
REPOSITORY = "https://github.com/tandem/tandem/blob/main/"


def github_anchor(heading: str) -> str:
    """The id GitHub gives a Markdown heading: lower case, punctuation dropped, spaces → '-'."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def runbook_sections(markdown: str) -> dict[str, tuple[int, str]]:
    """Each heading's anchor → (its level, its section's text up to the next heading of its
    level or above). Headings in fenced code are not headings; a repeated anchor gets -1, -2,
    ... as on GitHub."""
    headings: list[tuple[int, str, int]] = []  # (level, anchor, line index)
    lines, fenced, seen = markdown.splitlines(), False, dict[str, int]()
    for index, line in enumerate(lines):
        if line.lstrip().startswith("```"):
            fenced = not fenced
        found = None if fenced else re.match(r"(#{1,6}) +(.+?)(?: +#+)? *$", line)
        if found:
            anchor = github_anchor(found[2])
            repeats = seen.get(anchor, 0)
            seen[anchor] = repeats + 1
            headings.append((len(found[1]), f"{anchor}-{repeats}" if repeats else anchor, index))
    sections = {}
    for number, (level, anchor, start) in enumerate(headings):
        end = next((i for lv, _, i in headings[number + 1 :] if lv <= level), len(lines))
        sections[anchor] = (level, "\n".join(lines[start + 1 : end]))
    return sections


def test_every_alert_has_a_section_in_the_runbook(all_features: Rendered) -> None:
    # GitHub's anchor rules: punctuation dropped, fenced code skipped, a repeat suffixed.
    assert github_anchor("ERP outage at month-end (time-expense)") == (
        "erp-outage-at-month-end-time-expense"
    )
    assert set(runbook_sections("# A b\n```\n# A b\n```\n## A b\n")) == {"a-b", "a-b-1"}
    markdown = RUNBOOK.read_text()
    sections = runbook_sections(markdown)
    rules = [
        r
        for d in all_features.of_kind("PrometheusRule")
        for g in d["spec"]["groups"]
        for r in g["rules"]
        if "alert" in r
    ]
    assert {r["alert"] for r in rules} == ALERTS | {SLO_ALERT}
    for rule in rules:
        page, _, anchor = rule["annotations"]["runbook_url"].partition("#")
        assert page.startswith(REPOSITORY), page
        assert ROOT / page.removeprefix(REPOSITORY) == RUNBOOK
        assert anchor in sections, f"docs/runbook.md has no heading with the anchor #{anchor}"
        level, text = sections[anchor]
        assert level == 2, (anchor, level)
        # Each section says how urgent its alert is, as the rule does.
        assert f"**Severity:** {rule['labels']['severity']}." in text, anchor
    # The runbook's links between its sections lead somewhere.
    links = set(re.findall(r"\]\(#([^)]+)\)", markdown))
    assert links, "the runbook links none of its sections"
    assert links <= set(sections), links - set(sections)
