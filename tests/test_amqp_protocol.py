"""The job-handler protocol's validation: every bad report names its field and rule."""

from __future__ import annotations

import orjson
import pytest

from activitykit.live.amqp.protocol import (
    PROTOCOL,
    Ledger,
    ReportError,
    decode_job,
    encode_job,
    parse_reports,
)


def _msg(reports, handler="h1", **extra):
    return orjson.dumps({"protocol": PROTOCOL, "handler": handler, "reports": reports, **extra})


def _ip(a="a1", gen=1, red=False):
    return {"activity": a, "gen": gen, "status": "in-progress", "redelivered": red}


def _ok(a="a1", gen=1, status="succeeded"):
    return {"activity": a, "gen": gen, "status": status}


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b"{not json", r"report message 1 from a handler: the body is not JSON"),
        (b"[1]", r"must be a JSON object, got list"),
        (
            orjson.dumps({"protocol": "x/2", "handler": "h1", "reports": []}),
            r"handler 'h1'.*protocol: must be 'activitykit-jobhandler/1' \(got 'x/2'\)",
        ),
        (_msg([]), r"reports: List should have at least 1 item"),
        (_msg([_ip()], handler="bad name"), r"handler: String should match pattern"),
        (_msg([{**_ip(), "status": "done"}]), r"reports\[0\]\.status: Input should be"),
        (_msg([{**_ip(), "redelivered": "false"}]), r"reports\[0\]\.redelivered: Input should be"),
        (_msg([{**_ip(), "gen": "1"}]), r"reports\[0\]\.gen: Input should be a valid integer"),
        (
            _msg([{"activity": "a1", "gen": 1, "status": "in-progress"}]),
            r"reports\[0\]\.redelivered: required for 'in-progress'",
        ),
    ],
)
def test_bad_shapes_are_named(body: bytes, match: str) -> None:
    with pytest.raises(ReportError, match=match):
        parse_reports(body, 1)


def _ledger(*published, prefetch=None):
    led = Ledger(prefetch)
    led.published.update(published)
    return led


def _feed(led, reports, n=1, handler="h1"):
    led.check(parse_reports(_msg(reports, handler=handler), n), n)


def test_session_rules() -> None:
    led = _ledger(("a1", 1), ("a2", 1), prefetch=1)
    with pytest.raises(ReportError, match=r"'a9' gen 1 was never published"):
        _feed(led, [_ip("a9")])
    with pytest.raises(
        ReportError, match=r"'succeeded' for 'a1', which this handler does not hold"
    ):
        _feed(led, [_ok()])
    _feed(led, [_ip()])
    with pytest.raises(ReportError, match=r"already holds"):
        _feed(led, [_ip()], 2)
    with pytest.raises(ReportError, match=r"while holding 1 messages; prefetch is 1"):
        _feed(led, [_ip("a2")], 2)
    _feed(led, [_ok()], 2)
    # a1 finished and acknowledged in one transaction: it must never come back.
    with pytest.raises(ReportError, match=r"'a1' was delivered again after handler 'h1'"):
        _feed(led, [_ip(red=True)], 3, handler="h2")


def test_a_second_delivery_must_carry_the_brokers_flag() -> None:
    led = _ledger(("a1", 1))
    _feed(led, [_ip()])
    led.lose("h1")  # killed: the broker requeues a1
    with pytest.raises(ReportError, match=r"redelivered: false, but 'a1' was delivered before"):
        _feed(led, [_ip()], 2, handler="h2")
    _feed(led, [_ip(red=True), _ok()], 3, handler="h2")


def test_a_bad_message_changes_nothing() -> None:
    led = _ledger(("a1", 1))
    with pytest.raises(ReportError):
        _feed(led, [_ip(), _ok(), _ok()])  # the second final: a1 no longer held
    _feed(led, [_ip(), _ok()], 2)  # the same reports, well formed: accepted from scratch
    assert led.final == {("a1", 1): ("h1", "succeeded")}


def test_job_round_trip_and_refusal() -> None:
    job = decode_job(encode_job("a1", 2, "ArchiveRequest", 0.5, "failed"))
    assert (job.activity, job.gen, job.type, job.duration, job.outcome) == (
        "a1",
        2,
        "ArchiveRequest",
        0.5,
        "failed",
    )
    with pytest.raises(ValueError, match="not a job message of activitykit-jobhandler/1"):
        decode_job(b'{"protocol": "activitykit-jobhandler/1", "activity": "a1"}')
