"""Renders of charts/tandem shared by the test_chart_*.py modules.

Session-scoped: the chart is loaded (its library dependency updated) once, and the defaults and
tests/deploy/values/all-features.yaml are rendered once, for every module.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import helm_python
import pytest

from .chart_support import CHART, NAMESPACE, RELEASE, Render, Rendered, load_values


@pytest.fixture(scope="session")
def chart() -> Iterator[Any]:
    # Without this, the file:// library chart would be silently left out of every render.
    helm_python.dependency_update(CHART)
    with helm_python.Chart.load(CHART) as loaded:
        yield loaded


@pytest.fixture(scope="session")
def render(chart: Any) -> Render:
    def render(values: dict[str, Any] | None = None, *, name: str = RELEASE) -> Rendered:
        return Rendered.of(chart.render(values or {}, name=name, namespace=NAMESPACE))

    return render


@pytest.fixture(scope="session")
def defaults(render: Render) -> Rendered:
    return render()


@pytest.fixture(scope="session")
def all_features(render: Render) -> Rendered:
    return render(load_values("all-features.yaml"))


@pytest.fixture(scope="session", params=["defaults", "all-features"])
def rendered(request: pytest.FixtureRequest) -> Rendered:
    fixture = "defaults" if request.param == "defaults" else "all_features"
    found: Rendered = request.getfixturevalue(fixture)
    return found
