"""The plugin's promise: a real-service test skips locally without a server, fails in CI."""

import pytest

INNER_TEST = """
async def test_needs_a_broker(amqp_url):
    assert amqp_url
"""
INNER_INI = """
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
"""


@pytest.fixture
def without_servers(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.delenv("TEST_AMQP_URL", raising=False)
    monkeypatch.delenv("TEST_DATABASE_URL", raising=False)
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    return monkeypatch


def test_a_missing_server_skips_with_the_reason_outside_ci(
    pytester: pytest.Pytester, without_servers: pytest.MonkeyPatch
) -> None:
    without_servers.delenv("CI", raising=False)
    pytester.makeini(INNER_INI)
    pytester.makepyfile(INNER_TEST)
    result = pytester.runpytest_inprocess("-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*real services: 1 skipped*", "*TEST_AMQP_URL is not set*"])


def test_a_missing_server_fails_in_ci(
    pytester: pytest.Pytester, without_servers: pytest.MonkeyPatch
) -> None:
    without_servers.setenv("CI", "true")
    pytester.makeini(INNER_INI)
    pytester.makepyfile(INNER_TEST)
    result = pytester.runpytest_inprocess()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*real service missing in CI*"])
