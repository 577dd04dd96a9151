"""The SLOs' arithmetic, alerting and Prometheus rules, on hand-computed numbers."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from observability.domain import slo as slo_module
from observability.domain.slo import (
    BURN_WINDOWS,
    SLOS,
    BurnWindow,
    Slo,
    alerting,
    budget_remaining,
    burn_rate,
    error_budget,
    prometheus_rules,
    status,
    window_seconds,
)
from tandem_messaging._metrics import Metrics

BY_NAME = {slo.name: slo for slo in SLOS}
TIME = BY_NAME["time-posted-in-15m"]


def _slo(**changes: object) -> Slo:
    values: dict[str, object] = {
        "name": "demo",
        "description": "Demo.",
        "objective": 0.99,
        "good": "sum(rate(good_total[{window}]))",
        "total": "sum(rate(all_total[{window}]))",
        "unit": "requests",
    }
    return Slo(**(values | changes))  # type: ignore[arg-type]


# --- arithmetic --------------------------------------------------------------------------


def test_the_budget_is_what_the_objective_leaves_exactly() -> None:
    assert error_budget(0.99) == 0.01
    assert error_budget(0.999) == 0.001
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        error_budget(1.0)


def test_twenty_bad_in_a_thousand_burn_a_99_percent_budget_twice_as_fast() -> None:
    # Error ratio 20 / 1,000 = 0.02 against a budget of 0.01.
    assert burn_rate(980, 1000, 0.99) == 2.0
    assert burn_rate(1000, 1000, 0.99) == 0.0
    # All bad against 99.9 %: 1 / 0.001.
    assert burn_rate(0, 50, 0.999) == 1000.0


def test_no_traffic_burns_nothing_and_leaves_the_budget_whole() -> None:
    assert burn_rate(0, 0, 0.99) == 0.0
    assert budget_remaining(0, 0, 0.99) == 1.0


def test_the_budget_left_falls_with_bad_events_and_goes_negative_when_overspent() -> None:
    # 10,000 events at 99 %: 100 may be bad.
    assert budget_remaining(10_000, 10_000, 0.99) == 1.0
    assert budget_remaining(9_950, 10_000, 0.99) == 0.5
    assert budget_remaining(9_900, 10_000, 0.99) == 0.0
    assert budget_remaining(9_700, 10_000, 0.99) == -2.0


def test_good_counted_a_moment_after_total_is_not_a_negative_error() -> None:
    assert burn_rate(1001, 1000, 0.99) == 0.0
    with pytest.raises(ValueError, match="negative"):
        burn_rate(-1, 10, 0.99)


# --- alerting ----------------------------------------------------------------------------


def test_the_windows_are_the_workbooks_pairs() -> None:
    assert [(w.long, w.short, w.factor, w.alerting) for w in BURN_WINDOWS] == [
        ("1h", "5m", 14.4, "page"),
        ("6h", "30m", 6, "page"),
        ("1d", "2h", 3, "ticket"),
        ("3d", "6h", 1, "ticket"),
    ]
    assert TIME.alert_windows == ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
    assert TIME.windows == (*TIME.alert_windows, "28d")


def test_a_pair_fires_only_when_both_its_windows_burn_above_the_factor() -> None:
    # A spike in the last 5 minutes alone, or an hour that has already recovered: quiet.
    assert alerting({"1h": 1.0, "5m": 50.0}, TIME) is None
    assert alerting({"1h": 20.0, "5m": 0.5}, TIME) is None
    assert alerting({"1h": 20.0, "5m": 20.0}, TIME) == "page"
    assert alerting({"6h": 7.0, "30m": 7.0}, TIME) == "page"
    assert alerting({"1d": 4.0, "2h": 4.0}, TIME) == "ticket"
    assert alerting({"3d": 1.5, "6h": 1.5}, TIME) == "ticket"
    # A page wins over a ticket; a missing window burns nothing.
    assert alerting({"1h": 20.0, "5m": 20.0, "1d": 4.0, "2h": 4.0}, TIME) == "page"
    assert alerting({"1h": 20.0}, TIME) is None


def test_burning_exactly_at_the_factor_does_not_fire() -> None:
    # 144 bad in 1,000 at 99 %: 0.144 / 0.01 = 14.4, the fast pair's factor exactly.
    at = burn_rate(856, 1000, 0.99)
    assert at == 14.4
    assert alerting({"1h": at, "5m": at}, TIME) is None
    above = burn_rate(855, 1000, 0.99)
    assert alerting({"1h": above, "5m": above}, TIME) == "page"
    # 1 bad in 1,000 at 99.9 %: exactly the slowest pair's 1x.
    one = burn_rate(999, 1000, 0.999)
    assert one == 1.0
    assert alerting({"3d": one, "6h": one}, TIME) is None


def test_status_reads_the_period_for_the_budget_and_each_window_for_its_burn() -> None:
    counts = {
        "28d": (99_950.0, 100_000.0),  # 50 bad of the 1,000 allowed
        "1h": (800.0, 1000.0),  # 20 % bad: burn 20
        "5m": (70.0, 100.0),  # 30 % bad: burn 30
        "6h": (5_900.0, 6_000.0),
        "30m": (490.0, 500.0),
    }
    found = status(TIME, counts)
    assert found.slo is TIME
    assert (found.good, found.total) == (99_950.0, 100_000.0)
    assert found.ratio == 0.9995
    assert found.budget_remaining == 0.95
    assert found.burn_rates["1h"] == 20.0
    assert found.burn_rates["5m"] == 30.0
    assert found.burn_rates["30m"] == 2.0
    assert list(found.burn_rates) == list(TIME.alert_windows)
    assert found.burn_rates["3d"] == 0.0  # not measured: nothing happened
    assert found.alerting == "page"


def test_status_of_an_slo_with_no_traffic() -> None:
    found = status(TIME, {})
    assert found.ratio is None
    assert found.budget_remaining == 1.0
    assert set(found.burn_rates.values()) == {0.0}
    assert found.alerting is None


# --- definitions -------------------------------------------------------------------------


def test_a_malformed_slo_is_refused() -> None:
    with pytest.raises(ValueError, match="kebab-case"):
        _slo(name="Time_Posted")
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        _slo(objective=1.0)
    with pytest.raises(ValueError, match="no \\[\\{window\\}\\] range"):
        _slo(good="sum(rate(good_total[5m]))")
    with pytest.raises(ValueError, match="not shorter"):
        BurnWindow("5m", "1h", 14.4, "page")
    with pytest.raises(ValueError, match="not a window"):
        window_seconds("1x")
    assert window_seconds("28d") == 28 * 86_400


def test_the_three_slos_of_tandem() -> None:
    assert {slo.name: slo.objective for slo in SLOS} == {
        "time-posted-in-15m": 0.99,
        "messages-handled-unparked": 0.999,
        "quote-to-cash-within-1h": 0.99,
    }
    assert all(slo.period_days == 28 for slo in SLOS)
    assert TIME.good_over("5m") == (
        'sum(rate(tandem_time_approval_to_posting_seconds_bucket{le="900.0"}[5m]))'
    )
    assert "{window}" not in TIME.total_over("1h")


def test_the_latency_slos_select_the_bucket_prometheus_client_exports() -> None:
    # Histograms with a bucket at the threshold, as observability exports them.
    registry = CollectorRegistry()
    for name, bound in (
        ("tandem_time_approval_to_posting_seconds", 900),
        ("tandem_quote_to_cash_seconds", 3600),
    ):
        Histogram(name, "latency", buckets=(60, bound, 86_400), registry=registry).observe(1)
    exposed = generate_latest(registry).decode()
    for slo in (TIME, BY_NAME["quote-to-cash-within-1h"]):
        series = re.findall(r"(tandem_[a-z_]+(?:\{[^}]*\})?)\[", slo.good_over("5m"))
        series += re.findall(r"(tandem_[a-z_]+)\[", slo.total_over("5m"))
        assert len(series) == 2, slo.name
        for selector in series:
            assert re.search(rf"^{re.escape(selector)} ", exposed, re.MULTILINE), selector


def test_the_messages_slo_reads_the_counters_the_runtime_exports() -> None:
    registry = CollectorRegistry()
    Metrics(registry)
    exported = {f"{family.name}_total" for family in registry.collect() if family.type == "counter"}
    messages = BY_NAME["messages-handled-unparked"]
    used = set(re.findall(r"(tandem_[a-z_]+)\[", messages.total_over("1h")))
    assert used == {"tandem_messages_handled_total", "tandem_messages_parked_total"}
    assert used <= exported
    assert set(re.findall(r"(tandem_[a-z_]+)\[", messages.good_over("1h"))) == {
        "tandem_messages_handled_total"
    }


def test_the_module_is_pure() -> None:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(Path(slo_module.__file__).read_text())):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            roots.add(node.module.split(".")[0])
    assert "fractions" in roots  # the walk sees the imports
    assert roots <= set(sys.stdlib_module_names) | {"__future__"}, roots


# --- the Prometheus rules ----------------------------------------------------------------


def test_every_slo_records_its_error_ratio_over_every_alert_window() -> None:
    groups = prometheus_rules()["groups"]
    assert [g["name"] for g in groups] == [f"tandem.slo.{slo.name}" for slo in SLOS]
    for slo, group in zip(SLOS, groups, strict=True):
        records = [r for r in group["rules"] if "record" in r]
        assert [r["record"] for r in records] == [
            f"slo:sli_error:ratio_rate{w}" for w in slo.alert_windows
        ]
        for window, record in zip(slo.alert_windows, records, strict=True):
            assert record["labels"] == {"slo": slo.name}
            assert slo.good_over(window) in record["expr"]
            assert slo.total_over(window) in record["expr"]
            assert "{window}" not in record["expr"]
        # Recorded before the alerts that read them (a group evaluates in order).
        kinds = ["record" if "record" in r else "alert" for r in group["rules"]]
        assert kinds == sorted(kinds, reverse=True)


def test_each_window_pair_is_an_alert_with_its_severity() -> None:
    for slo, group in zip(SLOS, prometheus_rules()["groups"], strict=True):
        alerts = [r for r in group["rules"] if "alert" in r]
        assert len(alerts) == len(BURN_WINDOWS)
        for pair, alert in zip(BURN_WINDOWS, alerts, strict=True):
            assert alert["alert"] == "SloErrorBudgetBurn"
            assert alert["labels"] == {
                "severity": "critical" if pair.alerting == "page" else "warning",
                "slo": slo.name,
                "long_window": pair.long,
                "short_window": pair.short,
            }
            threshold = f"({pair.factor:g} * (1 - {slo.objective}))"
            long_side, short_side = alert["expr"].split("\nand\n")
            assert long_side == f'slo:sli_error:ratio_rate{pair.long}{{slo="{slo.name}"}} > ' + (
                threshold
            )
            assert short_side.startswith(f"slo:sli_error:ratio_rate{pair.short}{{")
            assert short_side.endswith(threshold)
            annotations = alert["annotations"]
            assert set(annotations) == {"summary", "description", "runbook_url"}
            assert annotations["runbook_url"].endswith("docs/runbook.md#slo-error-budget-burn")
            assert slo.name in annotations["summary"]


def test_the_rules_are_given_a_runbook_and_refuse_two_slos_of_one_name() -> None:
    custom = prometheus_rules([TIME], runbook_url="https://runbooks.example/slo")
    (group,) = custom["groups"]
    urls = {r["annotations"]["runbook_url"] for r in group["rules"] if "alert" in r}
    assert urls == {"https://runbooks.example/slo"}
    with pytest.raises(ValueError, match="share a name"):
        prometheus_rules([TIME, TIME])
