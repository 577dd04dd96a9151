import pytest
from pydantic import ValidationError

from tandem_sandbox import FaultConfig
from tandem_sandbox._faults import Dice, TokenBucket
from tandem_sandbox._http import SandboxError, decode_token, encode_token


@pytest.mark.parametrize(("percent", "calls"), [(20, 50), (10, 40), (33, 100), (0, 10)])
def test_pct_faults_hit_exactly_the_configured_share(percent: float, calls: int) -> None:
    dice = Dice(seed=5, salt="psa:webhooks")
    hits = sum(dice.pct("drop", percent) for _ in range(calls))
    exact = calls * percent / 100
    assert int(exact) <= hits <= int(exact) + 1


def test_the_same_seed_picks_the_same_calls_and_another_seed_others() -> None:
    def pattern(seed: int) -> list[bool]:
        dice = Dice(seed, "erp:requests")
        return [dice.chance(0.3) for _ in range(100)]

    assert pattern(1) == pattern(1)
    assert pattern(1) != pattern(2)


def test_a_drained_bucket_says_how_long_to_wait() -> None:
    bucket = TokenBucket(rate=2, burst=2)
    assert bucket.take() is None
    assert bucket.take() is None
    wait = bucket.take()
    assert wait is not None
    assert 0 < wait <= 0.5


def test_fault_config_refuses_impossible_values() -> None:
    with pytest.raises(ValidationError):
        FaultConfig(error_rate=1.5)
    with pytest.raises(ValidationError):
        FaultConfig.model_validate({"webhook_drop_pct": 20, "typo": 1})


def test_page_tokens_round_trip_and_forged_ones_are_refused() -> None:
    assert decode_token(encode_token({"h": 9, "c": [3]})) == {"h": 9, "c": [3]}
    with pytest.raises(SandboxError) as refused:
        decode_token("not-base64-json")
    assert refused.value.code == "INVALID_PAGE_TOKEN"
