"""The chart's alert rules fire when they should and stay quiet when they should not.

The PrometheusRule the chart renders for time-expense (all features on) is checked by
``promtool check rules`` and unit-tested by ``promtool test rules`` on synthetic series: each
alert once with series that must fire it and once with series that must not. Annotations are
left out of the rules under test (their text is checked in test_chart_alerts.py); labels are
compared exactly.
"""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from .chart_support import Rendered, promtool

SEL = 'namespace="tandem",tandem_service="time-expense"'
QUEUE = "time-expense.postings"
ALERT = {"service": "time-expense"}
RECORDED = {"namespace": "tandem", "tandem_service": "time-expense"}  # the SLO ratios' labels


def _series(metric: str, **labels: str) -> str:
    """A series of time-expense as scraped in the release namespace."""
    return metric + "{" + ",".join([SEL, *(f'{k}="{v}"' for k, v in labels.items())]) + "}"


def _traffic(parked_per_minute: str, minutes: int) -> dict[str, str]:
    """100 messages handled a minute, and ``parked_per_minute`` parked, for ``minutes``."""
    handled = _series("tandem_messages_handled_total", consumer=QUEUE, event_type="TimeApproved")
    parked = _series("tandem_messages_parked_total", consumer=QUEUE, reason="erp_rejected")
    return {handled: f"0+100x{minutes}", parked: f"0+{parked_per_minute}x{minutes}"}


@pytest.fixture(scope="module")
def rules_file(all_features: Rendered, tmp_path_factory: pytest.TempPathFactory) -> Path:
    [rule] = [d for d in all_features.of_kind("PrometheusRule")
              if d["metadata"]["labels"]["tandem.io/service"] == "time-expense"]  # fmt: skip
    groups = copy.deepcopy(rule["spec"]["groups"])  # the render is shared: leave it whole
    for group in groups:
        for item in group["rules"]:
            item.pop("annotations", None)
    path = tmp_path_factory.mktemp("rules") / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    return path


def _run(rules_file: Path, tests: list[dict[str, Any]]) -> subprocess.CompletedProcess[str]:
    spec = rules_file.parent / f"tests-{len(list(rules_file.parent.iterdir()))}.yaml"
    spec.write_text(yaml.safe_dump({"rule_files": [rules_file.name],
                                    "evaluation_interval": "1m", "tests": tests}))  # fmt: skip
    return subprocess.run(  # noqa: S603 - promtool on files of the test's own
        [promtool(), "test", "rules", spec.name], cwd=rules_file.parent,
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def _case(
    series: dict[str, str], alert: str, at: str, firing: list[dict[str, str]]
) -> dict[str, Any]:
    return {
        "interval": "1m",
        "input_series": [{"series": name, "values": values} for name, values in series.items()],
        "alert_rule_test": [{"eval_time": at, "alertname": alert,
                             "exp_alerts": [{"exp_labels": labels} for labels in firing]}],
    }  # fmt: skip


def _passes(rules_file: Path, *cases: dict[str, Any]) -> None:
    done = _run(rules_file, list(cases))
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_accepts_the_rules(rules_file: Path) -> None:
    done = subprocess.run(  # noqa: S603 - promtool on the rendered rules
        [promtool(), "check", "rules", str(rules_file)], capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 12 rules found" in done.stdout


def test_a_wrong_expectation_fails_so_the_rule_tests_are_live(rules_file: Path) -> None:
    parked = _series("tandem_messages_parked_total", consumer=QUEUE, reason="erp_rejected")
    # The alert fires here; expecting silence must fail.
    done = _run(rules_file, [_case({parked: "0 0 1+0x20"}, "TandemMessagesParked", "5m", [])])
    assert done.returncode != 0
    assert "TandemMessagesParked" in done.stdout + done.stderr


def test_parked_messages_alert_for_ten_minutes_after_the_last_one(rules_file: Path) -> None:
    parked = _series("tandem_messages_parked_total", consumer=QUEUE, reason="erp_rejected")
    labels = ALERT | {"severity": "warning", "consumer": QUEUE, "reason": "erp_rejected"}
    _passes(
        rules_file,
        _case({parked: "0 0 1+0x30"}, "TandemMessagesParked", "5m", [labels]),
        _case({parked: "0 0 1+0x30"}, "TandemMessagesParked", "20m", []),
        _case({parked: "0+0x30"}, "TandemMessagesParked", "5m", []),
    )


def test_intake_paused_alerts_only_after_ten_minutes(rules_file: Path) -> None:
    paused = _series("tandem_consumer_paused", consumer=QUEUE, downstream="erp:erp-us")
    labels = ALERT | {"severity": "warning", "consumer": QUEUE, "downstream": "erp:erp-us"}
    _passes(
        rules_file,
        _case({paused: "1+0x30"}, "TandemIntakePaused", "5m", []),
        _case({paused: "1+0x30"}, "TandemIntakePaused", "15m", [labels]),
        _case({paused: "1+0x5 0+0x25"}, "TandemIntakePaused", "15m", []),
    )


def test_outbox_lag_alerts_above_the_threshold_held_five_minutes(rules_file: Path) -> None:
    lag = _series("tandem_outbox_lag_seconds", tandem_role="relay", instance="r1")
    labels = ALERT | {"severity": "warning"}
    _passes(
        rules_file,
        _case({lag: "90+0x20"}, "TandemOutboxLag", "10m", [labels]),
        _case({lag: "30+0x20"}, "TandemOutboxLag", "10m", []),
    )


def test_mismatches_alert_reads_only_the_replica_that_leads_the_schedule(rules_file: Path) -> None:
    def job(instance: str, found: str, leader: str) -> dict[str, str]:
        last = _series("tandem_job_last_found", job="reconcile", service="time-expense",
                       instance=instance)  # fmt: skip
        leads = _series("tandem_scheduler_leader", service="time-expense", instance=instance)
        return {last: found, leads: leader}

    labels = ALERT | {"severity": "warning"}
    # The former leader still shows 4 mismatches; the leader's last run found none: quiet.
    quiet = job("ingest-a", "4+0x10", "0+0x10") | job("ingest-b", "0+0x10", "1+0x10")
    loud = job("ingest-a", "0+0x10", "0+0x10") | job("ingest-b", "3+0x10", "1+0x10")
    _passes(
        rules_file,
        _case(quiet, "TandemReconciliationMismatches", "5m", []),
        _case(loud, "TandemReconciliationMismatches", "5m", [labels]),
    )


def test_partitions_unowned_alerts_when_running_consumers_hold_fewer_than_all(
    rules_file: Path,
) -> None:
    up = _series("up", tandem_role="worker", instance="w1")

    def owned(count: int) -> dict[str, str]:
        name = _series("tandem_partitions_owned", consumer=QUEUE, member="w1", instance="w1")
        return {name: f"{count}+0x20", up: "1+0x20"}

    labels = ALERT | {"severity": "critical"}
    _passes(
        rules_file,
        _case(owned(6), "TandemPartitionsUnowned", "15m", [labels]),
        _case(owned(8), "TandemPartitionsUnowned", "15m", []),
        _case(owned(6), "TandemPartitionsUnowned", "5m", []),  # not yet for 10 minutes
    )


def test_the_fast_burn_pages_at_three_percent_parked_and_not_at_a_tenth(
    rules_file: Path,
) -> None:
    labels = ALERT | {"severity": "critical", **RECORDED}
    _passes(
        rules_file,
        _case(_traffic("3", 80), "TandemSLOBurnFast", "70m", [labels]),  # 2.9 % > 14.4 x 0.1 %
        _case(_traffic("0.1", 80), "TandemSLOBurnFast", "70m", []),  # 0.1 %: within budget
        _case(_traffic("1", 80), "TandemSLOBurnFast", "70m", []),  # 1 %: burns, under 14.4 x
    )


def test_the_slow_burn_tickets_a_sustained_one_percent(rules_file: Path) -> None:
    labels = ALERT | {"severity": "warning", **RECORDED}
    _passes(
        rules_file,
        _case(_traffic("1", 420), "TandemSLOBurnSlow", "400m", [labels]),  # 1 % > 6 x 0.1 %
        _case(_traffic("0.3", 420), "TandemSLOBurnSlow", "400m", []),  # 0.3 %: under 6 x
    )
