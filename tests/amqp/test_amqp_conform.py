"""`activitykit conform --job-handler`: the server-side suite against the real broker."""

from __future__ import annotations

import sys

import pytest

from activitykit.live.amqp.conform import run_handler_suite

pytestmark = pytest.mark.amqp

KIT = f"{sys.executable} -m activitykit.live.amqp.handler"


def test_the_kits_handler_passes_every_case(amqp_url: str) -> None:
    results = run_handler_suite(KIT, amqp_url)
    assert [(r.name, r.ok) for r in results] == [
        ("server/each-once", True),
        ("server/two-handlers", True),
        ("server/crash-mid-activity", True),
    ], results


def test_a_handler_that_never_acks_fails_with_the_reason(amqp_url: str) -> None:
    results = {r.name: r for r in run_handler_suite(f"{KIT} --never-ack", amqp_url, timeout=10)}
    each = results["server/each-once"]
    assert not each.ok
    assert "not acknowledge" in each.detail or "not within" in each.detail, each.detail


def test_a_handler_that_lies_about_redelivery_fails(amqp_url: str, tmp_path) -> None:
    # A handler that reports every delivery as a first one: caught at the crash case.
    liar = tmp_path / "liar.py"
    liar.write_text(
        "import activitykit.live.amqp.handler as h\n"
        "import pika.spec\n"
        "pika.spec.Basic.Deliver.redelivered = property(lambda self: False, lambda s, v: None)\n"
        "raise SystemExit(h.main())\n"
    )
    results = {r.name: r for r in run_handler_suite(f"{sys.executable} {liar}", amqp_url)}
    crash = results["server/crash-mid-activity"]
    assert not crash.ok
    assert "redelivered: false, but 'long' was delivered before" in crash.detail, crash.detail


def test_the_cli_runs_the_suite(amqp_url: str, capsys) -> None:
    from activitykit.cli import main

    rc = main(["conform", "--job-handler", KIT, "--amqp-url", amqp_url])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "3 passed, 0 failed" in out
