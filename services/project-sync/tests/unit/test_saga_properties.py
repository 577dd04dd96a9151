"""Whatever the CRM does, in whatever order, however often redelivered, with crashes and time
logged at any moment: the saga never cancels a project with activity, leaves no orphan shell,
settles, and ends agreeing with the opportunity's latest status."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from project_sync.domain.keys import Write, write_key
from project_sync.domain.saga import ENDED, Activity, Event, Step, work_of

from .q2c import OPP, Crash, Driver, at, committed, lost, reopened, sow_approved

SIGNALS = st.lists(st.sampled_from(["commit", "lose", "reopen"]), min_size=1, max_size=6)
LIVE = frozenset({Step.AWAITING_SOW, Step.ACTIVATING, Step.ACTIVE})


def signal(kind: str, version: int) -> Event:
    minutes = version * 10
    if kind == "commit":
        return committed(version, minutes)
    return (lost if kind == "lose" else reopened)(version, minutes)


def log_time(driver: Driver) -> None:
    for record in driver.world.erp.values():
        if record.status in {"shell", "active"}:
            driver.world.log_time(record.ref)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kinds=SIGNALS, data=st.data())
def test_the_saga_settles_on_the_latest_status_without_orphans_or_wrong_cancels(
    kinds: list[str], data: st.DataObject
) -> None:
    driver = Driver()
    signals = [signal(kind, version) for version, kind in enumerate(kinds, start=1)]
    # Mostly in order (so commits meet compensations under way), sometimes shuffled.
    deliveries = list(data.draw(st.permutations(signals))) if data.draw(st.booleans()) else signals
    for again in data.draw(st.lists(st.sampled_from(signals), max_size=3)):
        deliveries.insert(data.draw(st.integers(0, len(deliveries))), again)
    sow_version = 0

    for event in deliveries:
        for action in data.draw(st.lists(st.sampled_from(["time", "sow", "bad_sow"]), max_size=2)):
            if action == "time":
                log_time(driver)
            elif driver.sagas:
                sow_version += 1
                po = None if action == "bad_sow" else "PO-1"
                driver.hear(sow_approved(sow_version, po_number=po))
        crash = data.draw(st.none() | st.builds(Crash, st.integers(0, 3), st.booleans()))
        driver.hear(event, crash=crash)
        if data.draw(st.booleans()):
            log_time(driver)  # while the saga's work is left undone
        late = data.draw(st.booleans())
        if late and driver.lost_answers:
            driver.hear(driver.lost_answers.pop(0))  # a lost answer arrives late after all
        if data.draw(st.integers(0, 3)) == 0:
            driver.resume()  # now and then the watchdog issues the sagas' work again
    driver.resume()

    world, latest = driver.world, driver.saga
    # Settled: nothing left to do, nothing held but a statement of work failing its gates.
    for saga in driver.sagas.values():
        assert work_of(saga) == ()
        assert saga.waiting_for is None
        assert saga.failure is None or saga.step is Step.AWAITING_SOW
    # The latest status wins, however the signals were ordered or repeated.
    if kinds[-1] == "commit":
        assert latest.step in LIVE
    else:
        assert latest.step in ENDED or latest.step is Step.NOT_STARTED
    # One ERP and one PSA shell per generation at most, each under that generation's key.
    generations = [g for g in driver.sagas if g > 0]
    assert set(world.erp) <= {write_key(OPP, g, Write.ERP_SHELL) for g in generations}
    assert set(world.psa) <= {write_key(OPP, g, Write.PSA_SHELL) for g in generations}
    # No orphans: only the live generation's shells are neither cancelled nor closed.
    live = latest.generation if latest.step in LIVE else None
    live_keys = (
        {write_key(OPP, live, w) for w in (Write.ERP_SHELL, Write.PSA_SHELL)} if live else set()
    )
    for key, record in [*world.erp.items(), *world.psa.items()]:
        if key not in live_keys:
            assert record.status in {"cancelled", "closed"}, (key, record)
    # Never a cancelled project with activity; an ended generation is flagged iff it had some.
    for key, record in world.erp.items():
        used = world.activity.get(record.ref, Activity()).any
        assert not (used and record.status == "cancelled")
        generation = int(key.split(":g")[1].split(":")[0])
        saga = driver.sagas[generation]
        if saga.step in ENDED:
            assert (saga.step is Step.FLAGGED_FOR_FINANCE) == used
    # Each announcement once per generation (by key), and never both cancelled and flagged.
    keys = [command.key for command in world.announced]
    for generation in generations:
        ends = {k.rsplit(":", 1)[1] for k in keys if k.startswith(f"project:{OPP}:g{generation}:")}
        assert not {"ProjectCancelled", "ProjectFlaggedForFinance"} <= ends


@settings(max_examples=100, deadline=None)
@given(
    activity=st.builds(
        Activity, st.integers(0, 3), st.integers(0, 3), st.integers(0, 3), st.booleans()
    )
)
def test_a_cancel_is_never_asked_for_a_project_with_activity(activity: Activity) -> None:
    driver = Driver()
    driver.hear(committed(1))
    driver.hear(sow_approved(1))
    driver.world.activity["erp-1"] = activity

    driver.hear(lost(2))

    cancels = [c for c in driver.world.writes if type(c).__name__ == "CancelShells"]
    assert bool(cancels) is not activity.any
    assert driver.step() is (Step.FLAGGED_FOR_FINANCE if activity.any else Step.CANCELLED)
    assert at(20).date() == driver.world.announced[-1].__dict__.get("closed_from", at(20).date())
