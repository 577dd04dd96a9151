"""Tandem's service level objectives, as code: their measures, their arithmetic, their alerts.

Each ``Slo`` names the PromQL of its good and total events as rate templates with a
``{window}`` placeholder (``[{window}]``), so one definition yields both what the service
measures itself (``status`` on counts it took over each window) and the Prometheus rules the
chart ships (``prometheus_rules``, written by ``make slo-rules``).

Alerting is multiwindow, multi-burn-rate (Google SRE workbook, ch. 5): a window pair fires
when the burn rate over BOTH its long and its short window is strictly above the pair's
factor; exactly at the factor does not fire (``>``, as in the rules' ``>``). The arithmetic
is done on the decimal values written (``0.99`` leaves a budget of exactly ``0.01``), so a
burn rate lands exactly on a factor when the counts say so.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Literal

__all__ = [
    "BURN_WINDOWS",
    "RUNBOOK_URL",
    "SLOS",
    "BurnWindow",
    "Slo",
    "SloStatus",
    "alerting",
    "budget_remaining",
    "burn_rate",
    "error_budget",
    "prometheus_rules",
    "status",
    "window_seconds",
]

Alerting = Literal["page", "ticket"]

RUNBOOK_URL = "https://github.com/tandem/tandem/blob/main/docs/runbook.md#slo-error-budget-burn"
"""Where the burn alerts lead (the chart replaces the base with ``global.runbookBaseUrl``)."""

_WINDOW = re.compile(r"^([1-9][0-9]*)([smhdw])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_KEBAB = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
_SEVERITY: dict[Alerting, str] = {"page": "critical", "ticket": "warning"}


def window_seconds(window: str) -> int:
    """The length of a Prometheus window such as ``5m`` or ``28d``, in seconds."""
    found = _WINDOW.match(window)
    if found is None:
        raise ValueError(f"not a window (a number and one of s, m, h, d, w): {window!r}")
    return int(found[1]) * _UNIT_SECONDS[found[2]]


@dataclass(frozen=True)
class BurnWindow:
    """A window pair that alerts when both its windows burn faster than ``factor``."""

    long: str
    short: str
    factor: float
    alerting: Alerting

    def __post_init__(self) -> None:
        if window_seconds(self.short) >= window_seconds(self.long):
            raise ValueError(f"short window {self.short} is not shorter than {self.long}")
        if self.factor <= 0:
            raise ValueError(f"burn factor must be positive: {self.factor}")


BURN_WINDOWS: tuple[BurnWindow, ...] = (
    BurnWindow("1h", "5m", 14.4, "page"),  # 2 % of a 30-day budget in an hour
    BurnWindow("6h", "30m", 6, "page"),  # 5 % in six hours
    BurnWindow("1d", "2h", 3, "ticket"),  # 10 % in a day
    BurnWindow("3d", "6h", 1, "ticket"),  # 10 % in three days
)
"""The workbook's recommended pairs: two that page, two that open a ticket."""


@dataclass(frozen=True, kw_only=True)
class Slo:
    """One objective: the share of ``good`` among ``total`` events over ``period_days``."""

    name: str
    """Kebab-case: the ``slo`` label of its rules and alerts."""
    description: str
    objective: float
    """The share of good events promised, strictly between 0 and 1 (``0.99``)."""
    good: str
    """PromQL of the good events' rate, ``{window}`` where its range goes."""
    total: str
    """PromQL of every event's rate, ``{window}`` where its range goes."""
    unit: str
    """What one event is, for the console (``approved time entries``)."""
    period_days: int = 28
    burn_windows: tuple[BurnWindow, ...] = field(default=BURN_WINDOWS)

    def __post_init__(self) -> None:
        if not _KEBAB.match(self.name):
            raise ValueError(f"SLO name is not kebab-case: {self.name!r}")
        if not 0 < self.objective < 1:
            raise ValueError(f"{self.name}: objective must be strictly between 0 and 1")
        if self.period_days < 1:
            raise ValueError(f"{self.name}: period_days must be at least 1")
        for which, template in (("good", self.good), ("total", self.total)):
            if "[{window}]" not in template:
                raise ValueError(f"{self.name}: {which} has no [{{window}}] range")

    @property
    def period(self) -> str:
        """The period as a window (``28d``): what the budget is measured over."""
        return f"{self.period_days}d"

    @property
    def alert_windows(self) -> tuple[str, ...]:
        """Every window its alerts read, shortest first."""
        windows = {w for pair in self.burn_windows for w in (pair.long, pair.short)}
        return tuple(sorted(windows, key=window_seconds))

    @property
    def windows(self) -> tuple[str, ...]:
        """Every window ``status`` needs counts for: the alert windows and the period."""
        return tuple(sorted({*self.alert_windows, self.period}, key=window_seconds))

    def good_over(self, window: str) -> str:
        """The good events' rate over ``window``, as PromQL."""
        return self.good.replace("{window}", window)

    def total_over(self, window: str) -> str:
        """Every event's rate over ``window``, as PromQL."""
        return self.total.replace("{window}", window)


def _handled(window: str) -> str:
    return f"(sum(rate(tandem_messages_handled_total[{window}])) or vector(0))"


def _parked(window: str) -> str:
    return f"(sum(rate(tandem_messages_parked_total[{window}])) or vector(0))"


SLOS: tuple[Slo, ...] = (
    Slo(
        name="time-posted-in-15m",
        description="Approved time is posted in the ERP within 15 minutes of its approval.",
        objective=0.99,
        # prometheus-client writes bucket bounds as floats: le="900.0".
        good='sum(rate(tandem_time_approval_to_posting_seconds_bucket{le="900.0"}[{window}]))',
        total="sum(rate(tandem_time_approval_to_posting_seconds_count[{window}]))",
        unit="approved time entries",
    ),
    Slo(
        name="messages-handled-unparked",
        description="Messages are handled without being parked, summed over every service.",
        objective=0.999,
        # Either counter may have no series yet (a labelled counter appears on first use).
        good=_handled("{window}"),
        total=f"({_handled('{window}')} + {_parked('{window}')})",
        unit="messages",
    ),
    Slo(
        name="quote-to-cash-within-1h",
        description="A committed opportunity's project is active within 1 hour.",
        objective=0.99,
        good='sum(rate(tandem_quote_to_cash_seconds_bucket{le="3600.0"}[{window}]))',
        total="sum(rate(tandem_quote_to_cash_seconds_count[{window}]))",
        unit="committed opportunities",
    ),
)


def _exact(value: float) -> Fraction:
    return Fraction(repr(value))


def _budget(objective: float) -> Fraction:
    if not 0 < objective < 1:
        raise ValueError(f"objective must be strictly between 0 and 1: {objective}")
    return 1 - _exact(objective)


def _bad_share(good: float, total: float) -> Fraction:
    if good < 0 or total < 0:
        raise ValueError(f"counts cannot be negative: good={good}, total={total}")
    # More good than total (counts read a moment apart): nothing bad.
    return max(Fraction(0), 1 - _exact(good) / _exact(total))


def error_budget(objective: float) -> float:
    """The share of events allowed to be bad: ``1 - objective``."""
    return float(_budget(objective))


def burn_rate(good: float, total: float, objective: float) -> float:
    """How many times faster than allowed the budget burns: error ratio / budget (0 when
    nothing happened)."""
    if total == 0:
        return 0.0
    return float(_bad_share(good, total) / _budget(objective))


def budget_remaining(good: float, total: float, objective: float) -> float:
    """The share of the period's error budget left: 1 untouched, 0 spent, below 0 overspent."""
    if total == 0:
        return 1.0
    return float(1 - _bad_share(good, total) / _budget(objective))


def alerting(burns: Mapping[str, float], slo: Slo) -> Alerting | None:
    """``page`` or ``ticket`` when a window pair of ``slo`` burns above its factor over both
    its windows (a page wins); None otherwise. A window missing from ``burns`` burns 0."""
    fired = {
        pair.alerting
        for pair in slo.burn_windows
        if burns.get(pair.long, 0.0) > pair.factor and burns.get(pair.short, 0.0) > pair.factor
    }
    return "page" if "page" in fired else "ticket" if "ticket" in fired else None


@dataclass(frozen=True)
class SloStatus:
    """Where one SLO stands: its period's counts and budget, and each window's burn rate."""

    slo: Slo
    good: float
    total: float
    """Counts over the period (``slo.period``)."""
    ratio: float | None
    """good / total over the period; None when nothing happened."""
    budget_remaining: float
    burn_rates: dict[str, float]
    """Alert window → burn rate, shortest first."""
    alerting: Alerting | None


def status(slo: Slo, counts: Mapping[str, tuple[float, float]]) -> SloStatus:
    """``slo``'s status from (good, total) counts by window; a window missing counts 0, 0."""
    good, total = counts.get(slo.period, (0, 0))
    burns = {
        window: burn_rate(*counts.get(window, (0, 0)), slo.objective)
        for window in slo.alert_windows
    }
    return SloStatus(
        slo=slo,
        good=good,
        total=total,
        ratio=float(_exact(good) / _exact(total)) if total else None,
        budget_remaining=budget_remaining(good, total, slo.objective),
        burn_rates=burns,
        alerting=alerting(burns, slo),
    )


def _record(window: str) -> str:
    return f"slo:sli_error:ratio_rate{window}"


def _alert(slo: Slo, pair: BurnWindow, runbook_url: str) -> dict[str, Any]:
    threshold = f"({pair.factor:g} * (1 - {slo.objective!r}))"
    selector = f'{{slo="{slo.name}"}}'
    days = slo.period_days / pair.factor
    return {
        "alert": "SloErrorBudgetBurn",
        "expr": (
            f"{_record(pair.long)}{selector} > {threshold}\n"
            f"and\n"
            f"{_record(pair.short)}{selector} > {threshold}"
        ),
        "labels": {
            "severity": _SEVERITY[pair.alerting],
            "slo": slo.name,
            "long_window": pair.long,
            "short_window": pair.short,
        },
        "annotations": {
            "summary": (
                f"SLO {slo.name} burns its error budget over {pair.factor:g}x as fast as allowed"
            ),
            "description": (
                f"{{{{ $value | humanizePercentage }}}} of {slo.unit} failed the SLO over the "
                f"last {pair.long} (and over {pair.short}); the objective is "
                f"{slo.objective * 100:g} %: {slo.description} At this rate the "
                f"{slo.period_days}-day error budget is gone in {days:.1f} days."
            ),
            "runbook_url": runbook_url,
        },
    }


def _group(slo: Slo, runbook_url: str) -> dict[str, Any]:
    records = [
        {
            "record": _record(window),
            "expr": f"1 - (\n  {slo.good_over(window)}\n/\n  {slo.total_over(window)}\n)",
            "labels": {"slo": slo.name},
        }
        for window in slo.alert_windows
    ]
    alerts = [_alert(slo, pair, runbook_url) for pair in slo.burn_windows]
    return {"name": f"tandem.slo.{slo.name}", "rules": records + alerts}


def prometheus_rules(
    slos: Sequence[Slo] = SLOS, *, runbook_url: str = RUNBOOK_URL
) -> dict[str, Any]:
    """A Prometheus rule file: per SLO, the error ratio recorded over each alert window
    (``slo:sli_error:ratio_rate<window>{slo=<name>}``), then its burn alerts."""
    names = [slo.name for slo in slos]
    if len(set(names)) != len(names):
        raise ValueError(f"two SLOs share a name: {names}")
    return {"groups": [_group(slo, runbook_url) for slo in slos]}
