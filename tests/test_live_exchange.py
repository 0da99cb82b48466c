"""The message-system protocol without HTTP, driven by a scripted client.

``FakeClient`` keeps the client's side of the bookkeeping (ids, token, both sequence
numbers, the digest of the server's types) the way Landscape Client does, so every state
path of the server can be reached in a few lines: lost answers, duplicate batches, gaps,
unknown ids, wrong tokens.
"""

from __future__ import annotations

from typing import Any

import pytest

from activitykit.live.exchange import (
    DEFAULT_ACCEPTED_TYPES,
    Intervals,
    MessageSystem,
    ProtocolError,
    types_digest,
)
from activitykit.live.safety import HostChangeRefusedError
from activitykit.live.scripted import ScriptedPort, script_message

CLIENT_TYPES = ["accepted-types", "execute-script", "resynchronize", "set-id", "set-intervals"]


class FakeClient:
    def __init__(self, system: MessageSystem, title: str = "c1"):
        self.system, self.title = system, title
        self.secure_id: str | None = None
        self.insecure_id: int | None = None
        self.token: bytes | None = None
        self.sequence = 0  # of our next message to the server
        self.server_sequence = 0  # of the next server message we expect
        self.digest: bytes | None = None
        self.received: list[dict[str, Any]] = []
        self.pending: list[dict[str, Any]] = []

    def payload(self, **override: Any) -> dict[str, Any]:
        p = {
            "server-api": b"3.3",
            "client-api": b"3.8",
            "sequence": self.sequence,
            "accepted-types": self.digest,
            "messages": list(self.pending),
            "total-messages": len(self.pending),
            "next-expected-sequence": self.server_sequence,
            "client-accepted-types": CLIENT_TYPES,
        }
        if p["accepted-types"] is None:
            del p["accepted-types"]
        p.update(override)
        return p

    def exchange(self, t: float = 0.0, *, lose_answer: bool = False, **override: Any) -> dict:
        token = self.token.decode() if self.token else None
        self.token = None  # forgotten before each attempt, as the client does
        answer = self.system.exchange(self.payload(**override), self.secure_id, token, t)
        if lose_answer:
            return answer
        expected = answer.get("next-expected-sequence", self.sequence + len(self.pending))
        done = max(0, expected - self.sequence)
        self.pending = self.pending[done:]
        self.sequence = expected
        self.token = answer.get("next-exchange-token")
        for m in answer["messages"]:
            self.received.append(m)
            self.server_sequence += 1
            if m["type"] == "accepted-types":
                self.digest = types_digest(m["types"])
            elif m["type"] == "set-id":
                self.secure_id, self.insecure_id = m["id"], m["insecure-id"]
            elif m["type"] == "unknown-id":
                self.secure_id = self.insecure_id = None
        return answer

    def register(self) -> None:
        self.exchange()
        self.pending.append({"type": "register", "computer_title": self.title, "account_name": "a"})
        self.exchange()
        self.exchange()  # the first exchange with the new id

    def send_result(self, op: int, status: int = 6, text: str = "ok", code: int | None = None):
        m = {"type": "operation-result", "operation-id": op, "status": status, "result-text": text}
        if code is not None:
            m["result-code"] = code
        self.pending.append(m)


@pytest.fixture
def port() -> ScriptedPort:
    return ScriptedPort()


@pytest.fixture
def system(port: ScriptedPort) -> MessageSystem:
    return MessageSystem(port, server_uuid="uuid-1")


def test_first_exchange_offers_accepted_types_and_no_ids(system: MessageSystem) -> None:
    answer = FakeClient(system).exchange()
    assert answer["server-uuid"] == "uuid-1" and answer["server-api"] == "3.3"
    assert answer["messages"] == [
        {"type": "accepted-types", "types": sorted(DEFAULT_ACCEPTED_TYPES)}
    ]
    assert "next-exchange-token" not in answer


def test_registration_gives_both_ids_and_a_bytes_token(system: MessageSystem, port) -> None:
    c = FakeClient(system, "web-1")
    c.register()
    assert isinstance(c.secure_id, str) and c.insecure_id == 1
    assert isinstance(c.token, bytes) and c.token
    view = system.computer("web-1")
    assert view is not None and view.accepts == frozenset(CLIENT_TYPES)
    assert "register" in port.kinds()


def test_digest_matches_what_the_client_computes() -> None:
    """md5 over the sorted types joined by ';' (the captured client sent this digest)."""
    assert types_digest(["b", "a", "a"]) == types_digest(["a", "b"])
    assert types_digest([]) == bytes.fromhex("d41d8cd98f00b204e9800998ecf8427e")


def test_messages_delivered_and_results_returned(system: MessageSystem, port) -> None:
    c = FakeClient(system)
    c.register()
    op = port.script("c1", "echo hi")
    assert system.ping(str(c.insecure_id), 1.0) is True
    c.exchange(2.0)
    assert [m["operation-id"] for m in c.received if m["type"] == "execute-script"] == [op]
    assert system.ping(str(c.insecure_id), 3.0) is False
    c.send_result(op, 5, "bad", 103)
    c.exchange(4.0)
    r = port.result_of(op)
    assert r is not None and (r.status, r.text, r.code, r.t) == (5, "bad", 103, 4.0)


def test_lost_answer_is_resent_until_acknowledged(system: MessageSystem, port) -> None:
    c = FakeClient(system)
    c.register()
    op = port.script("c1", "true")
    c.exchange(lose_answer=True)
    answer = c.exchange()  # the client never saw the script: it comes again
    assert [m.get("operation-id") for m in answer["messages"]] == [op]
    assert answer["messages"] == [script_message(op, "true")]
    assert c.exchange()["messages"] == []  # acknowledged now
    assert len(port.delivered) == 1  # one delivery for the port, two sends on the wire


def test_duplicate_batch_is_processed_once(system: MessageSystem, port) -> None:
    c = FakeClient(system)
    c.register()
    c.send_result(7)
    c.exchange(lose_answer=True)  # the server took the result, the client did not hear
    c.exchange()  # the client sends it again with the same sequence number
    assert [r.operation_id for r in port.results] == [7]
    assert c.pending == []


def test_batch_ahead_of_expected_is_refused_so_client_resyncs(system: MessageSystem, port) -> None:
    c = FakeClient(system)
    c.register()
    c.send_result(7)
    answer = c.exchange(sequence=c.sequence + 5)
    assert port.results == []
    assert answer["next-expected-sequence"] == c.sequence  # unchanged: the client must resend
    assert port.notices[-2].kind == "sequence" and port.notices[-2].detail["stream"] == "client"


def test_client_counting_unsent_server_messages_resets_the_count(system: MessageSystem, port):
    c = FakeClient(system)
    c.register()
    c.server_sequence += 10
    c.exchange()
    notice = next(n for n in port.notices if n.kind == "sequence")
    assert notice.detail["stream"] == "server" and notice.detail["got"] == c.server_sequence
    port.script("c1", "true")
    assert len(c.exchange()["messages"]) == 1  # counting continues from the client's number


def test_unknown_secure_id_gets_unknown_id_and_can_register_again(system: MessageSystem) -> None:
    c = FakeClient(system)
    c.secure_id = "no-such-id"
    assert c.exchange()["messages"] == [{"type": "unknown-id"}]
    assert c.secure_id is None
    c.register()
    assert c.secure_id is not None


def test_wrong_token_is_forbidden_but_no_token_is_trusted(system: MessageSystem) -> None:
    c = FakeClient(system)
    c.register()
    with pytest.raises(ProtocolError) as info:
        system.exchange(c.payload(), c.secure_id, "not-the-token", 0.0)
    assert info.value.status == 403
    c.token = None  # after a failed exchange the client sends none
    assert "next-exchange-token" in c.exchange()


def test_set_intervals_goes_with_the_first_registered_exchange(port) -> None:
    system = MessageSystem(port, intervals=Intervals(60, 10, 5))
    c = FakeClient(system)
    c.register()
    sets = [m for m in c.received if m["type"] == "set-intervals"]
    assert sets == [{"type": "set-intervals", "exchange": 60, "urgent-exchange": 10, "ping": 5}]


def test_urgent_interval_below_ten_seconds_is_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match=r"urgent_exchange interval must be >= 10 s, got 5"):
        Intervals(30, 5, 2)
    with pytest.raises(ValueError, match="ping interval must be a whole number"):
        Intervals(30, 10, 0)


def test_resynchronize_answer_completes_the_request(system: MessageSystem, port) -> None:
    c = FakeClient(system)
    c.register()
    c.pending.append({"type": "resynchronize", "operation-id": 9})
    c.pending.append({"type": "resynchronize"})  # client-initiated: no activity
    c.exchange()
    assert [(r.operation_id, r.status) for r in port.results] == [(9, 6)]


@pytest.mark.parametrize(
    "message",
    [
        {"type": "operation-result", "status": 6},
        {"type": "operation-result", "operation-id": "x", "status": 6},
        {"type": "operation-result", "operation-id": 1, "status": 6, "result-text": b"x"},
        {"type": "operation-result", "operation-id": 1, "status": 6, "result-code": "x"},
    ],
)
def test_malformed_result_is_reported_and_skipped(system, port, message) -> None:
    c = FakeClient(system)
    c.register()
    c.pending.append(message)
    c.exchange()
    assert port.results == [] and "bad-message" in port.kinds()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ([], "payload must be a dict"),
        ({"sequence": 0, "next-expected-sequence": 0}, "'messages' must be list"),
        ({"messages": [], "next-expected-sequence": 0}, "'sequence' must be int, got nothing"),
        ({"messages": [], "sequence": -1, "next-expected-sequence": 0}, "'sequence' must be >= 0"),
        ({"messages": [], "sequence": True, "next-expected-sequence": 0}, "must be int, got bool"),
        ({"messages": [1], "sequence": 0, "next-expected-sequence": 0}, "messages[0] must be"),
        ({"messages": [{}], "sequence": 0, "next-expected-sequence": 0}, "no string 'type'"),
        (
            {"messages": [], "sequence": 0, "next-expected-sequence": 0, "accepted-types": 3},
            "'accepted-types' must be bytes",
        ),
        (
            {
                "messages": [],
                "sequence": 0,
                "next-expected-sequence": 0,
                "client-accepted-types": [1],
            },
            "must list strings",
        ),
    ],
)
def test_bad_payloads_are_400_naming_the_field(system, payload, field) -> None:
    with pytest.raises(ProtocolError) as info:
        system.exchange(payload, None, None, 0.0)
    assert info.value.status == 400 and field in info.value.reason


def test_ping_errors(system: MessageSystem) -> None:
    for bad, status in [("abc", 400), ("", 400), (None, 400), ("99", 404)]:
        with pytest.raises(ProtocolError) as info:
            system.ping(bad, 0.0)
        assert info.value.status == status


def test_host_changing_messages_are_refused_by_default(port) -> None:
    for allow in (False, True):
        system = MessageSystem(port, allow_host_changes=allow)
        c = FakeClient(system, f"h{allow}")
        c.register()
        port.send(c.title, {"type": "shutdown", "operation-id": 1})
        if allow:
            assert c.exchange()["messages"][0]["type"] == "shutdown"
        else:
            with pytest.raises(HostChangeRefusedError, match="--allow-host-changes"):
                c.exchange()


def test_bytes_message_type_is_read_as_text(system: MessageSystem, port) -> None:
    c = FakeClient(system)
    c.register()
    c.pending.append({"type": b"operation-result", "operation-id": 3, "status": 6})
    c.exchange()
    assert [r.operation_id for r in port.results] == [3]
