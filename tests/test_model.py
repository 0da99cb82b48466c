"""The reference model against an independent transcription of SPEC.md section 2."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from activitykit.model import (
    CATALOG,
    MACHINES,
    START_STATES,
    Channel,
    Kind,
    MachineDefinitionError,
    Profile,
    State,
    StateMachine,
    UnknownActivityTypeError,
    UnknownProfileError,
    UnknownStateError,
    activity_type,
    check_move,
    machine,
    parse_profile,
    parse_state,
)

NAMES = [
    "Queued",
    "Scheduled",
    "Waiting",
    "Blocked",
    "In Progress",
    "Succeeded",
    "Failed",
    "Canceled",
]

# Written out by hand from SPEC.md section 2; deliberately not derived from the code.
CLIENT_ALLOWED = {
    ("Queued", "In Progress"),
    ("Queued", "Canceled"),
    ("Queued", "Blocked"),
    ("Scheduled", "In Progress"),
    ("Scheduled", "Canceled"),
    ("Waiting", "Queued"),
    ("Waiting", "In Progress"),
    ("Waiting", "Canceled"),
    ("Blocked", "Queued"),
    ("Blocked", "Canceled"),
    ("Blocked", "Waiting"),
    ("In Progress", "Succeeded"),
    ("In Progress", "Failed"),
    ("In Progress", "Canceled"),
}
SERVER_ALLOWED = CLIENT_ALLOWED | {("Scheduled", "Queued")}
RESULT_AFTER_CANCEL = {("Canceled", "Succeeded"), ("Canceled", "Failed")}

EXPECTED = {
    ("client", "result-wins"): CLIENT_ALLOWED | RESULT_AFTER_CANCEL,
    ("client", "cancel-sticky"): CLIENT_ALLOWED,
    ("server", "result-wins"): SERVER_ALLOWED,
    ("server", "cancel-sticky"): SERVER_ALLOWED,
}
EXPECTED_FINAL = {
    ("client", "result-wins"): {"Succeeded", "Failed"},
    ("client", "cancel-sticky"): {"Succeeded", "Failed", "Canceled"},
    ("server", "result-wins"): {"Succeeded", "Failed", "Canceled"},
    ("server", "cancel-sticky"): {"Succeeded", "Failed", "Canceled"},
}
CASES = [(k, p, a, b) for (k, p) in EXPECTED for a in NAMES for b in NAMES]


@pytest.mark.parametrize(("kind", "profile", "src", "dst"), CASES)
def test_every_pair(kind: str, profile: str, src: str, dst: str) -> None:
    verdict = check_move(kind, src, dst, profile)
    assert verdict.allowed == ((src, dst) in EXPECTED[(kind, profile)])
    if not verdict.allowed:
        assert src in verdict.reason and dst in verdict.reason


@pytest.mark.parametrize(("kind", "profile"), list(EXPECTED))
def test_start_and_final(kind: str, profile: str) -> None:
    sm = machine(kind, profile)
    assert {s.value for s in sm.start} == {"Queued", "Scheduled", "Waiting", "Blocked"}
    assert {s.value for s in sm.final} == EXPECTED_FINAL[(kind, profile)]


def test_refusal_reasons_name_the_rule() -> None:
    assert "only server" in check_move("client", "Scheduled", "Queued").reason
    assert "self-loop" in check_move("server", "Queued", "Queued").reason
    assert "final" in check_move("server", "Canceled", "Succeeded").reason
    assert "final" in check_move("client", "Canceled", "Failed", "cancel-sticky").reason
    assert "start state" in check_move("client", "In Progress", "Queued").reason


def test_self_check_names_offending_states() -> None:
    table = {s: frozenset() for s in State}
    table[State.QUEUED] = frozenset({State.IN_PROGRESS})
    with pytest.raises(MachineDefinitionError, match="unreachable") as err:
        StateMachine(
            Kind.CLIENT,
            Profile.RESULT_WINS,
            frozenset({State.QUEUED}),
            frozenset({State.SUCCEEDED}),
            table,
        )
    assert "Blocked" in str(err.value)
    # Canceled not final and without exits: a trap.
    server = MACHINES[(Kind.SERVER, Profile.RESULT_WINS)].transitions
    with pytest.raises(MachineDefinitionError, match=r"\['Canceled'\] can never reach a final"):
        StateMachine(
            Kind.SERVER,
            Profile.RESULT_WINS,
            START_STATES,
            frozenset({State.SUCCEEDED, State.FAILED}),
            server,
        )
    leaky = dict(server) | {State.SUCCEEDED: frozenset({State.FAILED})}
    with pytest.raises(MachineDefinitionError, match=r"final state.*Succeeded.*exits"):
        StateMachine(
            Kind.SERVER,
            Profile.RESULT_WINS,
            START_STATES,
            frozenset({State.SUCCEEDED, State.FAILED, State.CANCELED}),
            leaky,
        )


@pytest.mark.parametrize(
    ("text", "state"),
    [
        ("In Progress", State.IN_PROGRESS),
        ("in_progress", State.IN_PROGRESS),
        ("in-progress", State.IN_PROGRESS),
        ("IN PROGRESS", State.IN_PROGRESS),
        ("  In   progress ", State.IN_PROGRESS),
        ("delivered", State.IN_PROGRESS),
        ("undelivered", State.QUEUED),
        ("QUEUED", State.QUEUED),
        ("unapproved", State.BLOCKED),
        ("blocked", State.BLOCKED),
        ("scheduled", State.SCHEDULED),
        ("waiting", State.WAITING),
        ("succeeded", State.SUCCEEDED),
        ("failed", State.FAILED),
        ("canceled", State.CANCELED),
    ],
)
def test_aliases(text: str, state: State) -> None:
    assert parse_state(text) is state


@pytest.mark.parametrize("bad", ["running", "", "In Progres", "done", 3, None])
def test_bad_state_names(bad: object) -> None:
    with pytest.raises(UnknownStateError) as err:
        parse_state(bad)  # type: ignore[arg-type]
    assert isinstance(err.value, ValueError)
    assert "Queued" in str(err.value) and "undelivered" in str(err.value)


def test_bad_profile() -> None:
    with pytest.raises(UnknownProfileError, match="result-wins, cancel-sticky"):
        parse_profile("lenient")


def test_catalog() -> None:
    assert len(CATALOG) == 41
    assert {"DetachProRequest", "GenerateFDERecoveryKeyRequest"} <= set(CATALOG)
    assert activity_type("ExecuteScriptRequest").message == "execute-script"
    assert activity_type("SyncPocketRequest").kind is Kind.SERVER
    assert activity_type("SyncPocketRequest").reports_progress
    assert activity_type("ReleaseUpgradeRequest").survives_restart
    assert not activity_type("ExecuteScriptRequest").survives_restart
    assert activity_type("RestartRequest").reports_before_acting
    hostagent = [t for t in CATALOG.values() if t.channel is Channel.HOSTAGENT]
    assert len(hostagent) == 7 and all(t.kind is Kind.CLIENT for t in hostagent)
    servers = {t.name for t in CATALOG.values() if t.kind is Kind.SERVER}
    assert servers == {
        "SyncPocketRequest",
        "GenerateUsgReportActivity",
        "RemoveComputerActivity",
        "ArchiveRequest",
    }
    with pytest.raises(UnknownActivityTypeError, match="did you mean ExecuteScriptRequest"):
        activity_type("ExecuteScriptRequst")


machines_st = st.sampled_from(sorted(MACHINES, key=str))


@given(key=machines_st, data=st.data())
def test_random_walks_never_leave_final(key, data) -> None:
    sm = MACHINES[key]
    state = data.draw(st.sampled_from(sorted(sm.start)))
    for _ in range(20):
        options = sorted(sm.transitions[state])
        if not options:
            assert sm.is_final(state)
            return
        assert not sm.is_final(state)
        state = data.draw(st.sampled_from(options))


@given(key=machines_st, data=st.data())
def test_every_walk_can_finish(key, data) -> None:
    """From any state reached by a random walk, some continuation reaches a final state."""
    sm = MACHINES[key]
    state = data.draw(st.sampled_from(sorted(sm.start)))
    for _ in range(data.draw(st.integers(0, 6))):
        if not sm.transitions[state]:
            break
        state = data.draw(st.sampled_from(sorted(sm.transitions[state])))
    seen, todo = {state}, [state]
    while todo:
        for n in sm.transitions[todo.pop()]:
            if n not in seen:
                seen.add(n)
                todo.append(n)
    assert seen & sm.final


def test_history_condition_of_result_wins_is_declared_in_the_model() -> None:
    from activitykit.model import Kind, Profile, State, machine

    rw = machine(Kind.CLIENT, Profile.RESULT_WINS)
    X, IP, Q, OK = State.CANCELED, State.IN_PROGRESS, State.QUEUED, State.SUCCEEDED
    assert rw.entered_from == {X: IP}
    assert rw.allows(X, OK)  # the table alone allows it...
    assert rw.allows_after(IP, X, OK)  # ...with the history
    assert not rw.allows_after(Q, X, OK)
    assert not rw.allows_after(None, X, OK)
    refused = rw.check_after(Q, X, OK)
    assert not refused and "entered Canceled from In Progress" in refused.reason
    assert rw.check_after(IP, X, OK)
    # moves without a history condition do not care about the history
    assert rw.allows_after(None, Q, IP) and rw.allows_after(X, Q, IP)
    # settled: final states, and a Canceled that awaits no result
    assert rw.settled(OK, IP) and rw.settled(X, Q) and not rw.settled(X, IP)
    for kind, profile in ((Kind.SERVER, Profile.RESULT_WINS), (Kind.CLIENT, Profile.CANCEL_STICKY)):
        m = machine(kind, profile)
        assert m.entered_from == {} and m.settled(X, IP) and not m.allows_after(IP, X, OK)


def test_a_history_condition_must_name_a_real_move() -> None:
    from activitykit.model import MACHINES, Kind, MachineDefinitionError, Profile, State
    from activitykit.model.machines import StateMachine

    m = MACHINES[(Kind.CLIENT, Profile.RESULT_WINS)]
    with pytest.raises(MachineDefinitionError, match="history condition on Canceled"):
        StateMachine(
            m.kind, m.profile, m.start, m.final, m.transitions, {State.CANCELED: State.SUCCEEDED}
        )
