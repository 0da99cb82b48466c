"""The emulator over HTTP: a recorded client session replayed, bad input, busy windows."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from activitykit.live import bpickle
from activitykit.live.exchange import Intervals, MessageSystem
from activitykit.live.safety import check_activity_type, check_message
from activitykit.live.scripted import ScriptedPort
from activitykit.live.server import BusyWindow, LandscapeServer

SESSION = Path(__file__).parent / "data" / "live" / "session"


def serve(
    test: Callable[[LandscapeServer, aiohttp.ClientSession], Awaitable[None]],
    intervals: Intervals | None = None,
    **server_kw: Any,
) -> None:
    """Run ``test`` against a fresh server with a scripted port, on an event loop."""

    async def main() -> None:
        system = MessageSystem(ScriptedPort(), server_uuid="replay", intervals=intervals)
        async with LandscapeServer(system, **server_kw) as server, aiohttp.ClientSession() as http:
            await test(server, http)

    asyncio.run(asyncio.wait_for(main(), 30))


async def post_exchange(server, http, body: bytes, headers=None) -> tuple[int, bytes]:
    async with http.post(server.message_url, data=body, headers=headers or {}) as r:
        return r.status, await r.read()


async def post_ping(server, http, body: bytes | str) -> tuple[int, bytes]:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    async with http.post(server.ping_url, data=body, headers=headers) as r:
        return r.status, await r.read()


def _records() -> list[tuple[str, dict[str, Any], bytes, bytes]]:
    out = []
    for meta_path in sorted(SESSION.glob("*.json")):
        meta = json.loads(meta_path.read_text())
        stem = meta_path.stem
        suffix = "form" if meta["endpoint"] == "ping" else "bpickle"
        request = (SESSION / f"{stem}-request.{suffix}").read_bytes()
        answer = (SESSION / f"{stem}-answer.bpickle").read_bytes()
        out.append((meta["endpoint"], meta, request, answer))
    return out


def _normal(answer: dict[str, Any]) -> dict[str, Any]:
    """An answer without the values that differ between servers (uuid, ids, tokens)."""
    out = {k: v for k, v in answer.items() if k not in ("server-uuid", "next-exchange-token")}
    out["messages"] = [
        {k: v for k, v in m.items() if k != "id"} if m["type"] == "set-id" else m
        for m in answer["messages"]
    ]
    return out


def test_recorded_session_replays_to_the_same_answers() -> None:
    """Requests recorded from two real clients get the answers the real clients got.

    The recorded session: two clients register, one runs three scripts (success, exit
    code 3, time limit) and a resynchronize request. Secure ids and tokens are new in the
    replay, so the recorded headers are mapped onto the ones this server hands out.
    """
    records = _records()
    assert sum(1 for r in records if r[0] == "exchange") >= 10

    async def test(server: LandscapeServer, http: aiohttp.ClientSession) -> None:
        port: ScriptedPort = server.system.port  # type: ignore[assignment]
        ids: dict[str, str] = {}  # recorded secure id -> replayed one
        tokens: dict[str, str] = {}  # recorded token -> replayed one
        queued: set[int] = set()  # exchange records whose activities are queued already

        def queue_activities_of_next_exchange(after: int, secure_id: str) -> None:
            """Queue what the recording delivered at this computer's next exchange."""
            for i in range(after, len(records)):
                _, meta, _, recorded = records[i]
                if meta["headers"].get("X-Computer-ID") == secure_id:
                    if i not in queued:
                        queued.add(i)
                        name = server.system._by_secure[ids[secure_id]].name
                        for m in bpickle.loads(recorded)["messages"]:
                            if "operation-id" in m:
                                port.send(name, m)
                    return

        for i, (endpoint, meta, request, recorded) in enumerate(records):
            if endpoint == "ping":
                if recorded == bpickle.dumps({"messages": True}):  # work was waiting then
                    insecure = int(request.decode().split("=")[1])
                    secure = next(
                        k
                        for k, v in ids.items()
                        if v == server.system._by_insecure[insecure].secure_id
                    )
                    queue_activities_of_next_exchange(i, secure)
                status, body = await post_ping(server, http, request)
                assert (status, body) == (meta["status"], recorded), meta
                continue
            want = bpickle.loads(recorded)
            headers = dict(meta["headers"])
            if "X-Computer-ID" in headers:
                queue_activities_of_next_exchange(i, headers["X-Computer-ID"])
                headers["X-Computer-ID"] = ids[headers["X-Computer-ID"]]
            if "X-Exchange-Token" in headers:
                headers["X-Exchange-Token"] = tokens[headers["X-Exchange-Token"]]
            status, body = await post_exchange(server, http, request, headers)
            assert status == 200
            got = bpickle.loads(body)
            assert _normal(got) == _normal(want), meta
            for g, w in zip(got["messages"], want["messages"], strict=True):
                if w["type"] == "set-id":
                    ids[w["id"]] = g["id"]
            if "next-exchange-token" in want:
                assert isinstance(got["next-exchange-token"], bytes)
                tokens[want["next-exchange-token"].decode()] = got["next-exchange-token"].decode()
        statuses = sorted((r.operation_id, r.status, r.code) for r in port.results)
        assert statuses == [(1, 6, None), (2, 5, 103), (3, 5, 102), (4, 6, None)]

    serve(test, intervals=Intervals(30, 10, 2))  # as in the recording


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        (b"", 400, "input is empty"),
        (b"\x00garbage", 400, "unknown type letter"),
        (b"li1;", 400, "no closing ;"),
        (bpickle.dumps([1]), 400, "payload must be a dict"),
        (bpickle.dumps({"messages": []}), 400, "'sequence' must be int"),
    ],
)
def test_garbage_exchange_bodies_are_400(body: bytes, status: int, reason: str) -> None:
    async def test(server, http) -> None:
        got, text = await post_exchange(server, http, body)
        assert got == status and reason in text.decode()
        rejected = [n for n in server.system.port.notices if n.kind == "rejected"]
        assert rejected and rejected[0].detail["status"] == status
        # still serving
        ok, _ = await post_exchange(server, http, bpickle.dumps(_empty_payload()))
        assert ok == 200

    serve(test)


def _empty_payload() -> dict[str, Any]:
    return {"messages": [], "sequence": 0, "next-expected-sequence": 0}


def test_oversized_bodies_are_413() -> None:
    async def test(server, http) -> None:
        status, _ = await post_exchange(server, http, b"s2000:" + b"x" * 2000)
        assert status == 413
        status, _ = await post_ping(server, http, "insecure_id=" + "1" * 5000)
        assert status == 413

    serve(test, max_body=1000)


def test_wrong_token_unknown_id_and_methods() -> None:
    async def test(server, http) -> None:
        body = bpickle.dumps(
            {
                **_empty_payload(),
                "messages": [{"type": "register", "computer_title": "x", "account_name": "a"}],
            }
        )
        _, answer = await post_exchange(server, http, body)
        set_id = next(m for m in bpickle.loads(answer)["messages"] if m["type"] == "set-id")
        headers = {"X-Computer-ID": set_id["id"], "X-Exchange-Token": "forged"}
        status, text = await post_exchange(server, http, bpickle.dumps(_empty_payload()), headers)
        assert status == 403 and b"token does not match" in text
        status, answer = await post_exchange(
            server, http, bpickle.dumps(_empty_payload()), {"X-Computer-ID": "nobody"}
        )
        assert status == 200 and bpickle.loads(answer)["messages"] == [{"type": "unknown-id"}]
        async with http.get(server.message_url) as r:
            assert r.status == 405
        async with http.post(server.message_url + "/other", data=b"n") as r:
            assert r.status == 404

    serve(test)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"", 400),
        (b"\xff\xfe", 400),
        (b"insecure_id=1&insecure_id=2", 400),
        (b"other=1", 400),
        (b"insecure_id=abc", 400),
        (b"insecure_id=42", 404),
        (b"no-equals-sign", 400),
    ],
)
def test_bad_pings(body: bytes, status: int) -> None:
    async def test(server, http) -> None:
        assert (await post_ping(server, http, body))[0] == status

    serve(test)


def test_busy_window_answers_busy_then_recovers() -> None:
    async def test(server, http) -> None:
        t = server._clock()
        server.busy(BusyWindow(t, t + 0.5, status=429))
        payload = bpickle.dumps(_empty_payload())
        assert (await post_exchange(server, http, payload))[0] == 429
        assert (await post_ping(server, http, "insecure_id=5"))[0] == 404  # pings unaffected
        await asyncio.sleep(0.6)
        assert (await post_exchange(server, http, payload))[0] == 200
        busy = [n for n in server.system.port.notices if n.kind == "busy"]
        assert [n.detail["status"] for n in busy] == [429]

    serve(test)


def test_busy_window_validation() -> None:
    with pytest.raises(ValueError, match="429 or 5xx"):
        BusyWindow(0, 1, status=404)
    with pytest.raises(ValueError, match="must end after it starts"):
        BusyWindow(2, 1)


def test_failing_port_gives_500_and_the_server_keeps_serving() -> None:
    class Broken(ScriptedPort):
        def exchange(self, computer, results, t):
            raise RuntimeError("core exploded")

    async def main() -> None:
        port = Broken()
        system = MessageSystem(port)
        async with LandscapeServer(system) as server, aiohttp.ClientSession() as http:
            reg = {"type": "register", "computer_title": "x", "account_name": "a"}
            body = bpickle.dumps({**_empty_payload(), "messages": [reg]})
            _, answer = await post_exchange(server, http, body)
            cid = bpickle.loads(answer)["messages"][-1]["id"]
            status, _ = await post_exchange(
                server, http, bpickle.dumps(_empty_payload()), {"X-Computer-ID": cid}
            )
            assert status == 500
            assert "port-error" in port.kinds()
            assert (await post_ping(server, http, "insecure_id=1"))[0] == 200

    asyncio.run(asyncio.wait_for(main(), 30))


def test_a_stalled_exchange_upload_does_not_delay_pings() -> None:
    """A client that sends half a large body and stops ties up nothing but its socket."""

    async def test(server, http) -> None:
        _reader, writer = await asyncio.open_connection(server.host, server.message_port)
        writer.write(
            b"POST /message-system HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n"
            + b"l" * 1000
        )
        await writer.drain()
        start = time.perf_counter()
        for _ in range(20):
            assert (await post_ping(server, http, "insecure_id=1"))[0] == 404
        assert time.perf_counter() - start < 5
        writer.close()

    serve(test)


def test_large_exchange_is_decoded_off_the_loop_and_answered() -> None:
    async def test(server, http) -> None:
        big = {**_empty_payload(), "padding": [b"x" * 1000] * 500}
        assert (await post_exchange(server, http, bpickle.dumps(big)))[0] == 200

    serve(test)


def test_recording_writes_requests_and_answers(tmp_path: Path) -> None:
    async def test(server, http) -> None:
        await post_exchange(server, http, bpickle.dumps(_empty_payload()))
        await post_ping(server, http, "insecure_id=3")

    serve(test, record_dir=tmp_path)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names[:3] == [
        "0001-exchange-answer.body",
        "0001-exchange-request.body",
        "0001-exchange.json",
    ]
    assert json.loads((tmp_path / "0002-ping.json").read_text())["status"] == 404


def test_safety_rules() -> None:
    check_activity_type("ExecuteScriptRequest")
    check_activity_type("ResynchronizeRequest")
    check_activity_type("ArchiveRequest")  # server activity: never reaches a client
    for name in (
        "RestartRequest",
        "ChangePackagesRequest",
        "CreateUserRequest",
        "InstallSnaps",
        "AttachProRequest",
        "AddGroupMemberRequest",
        "ShutdownRequest",
    ):
        with pytest.raises(ValueError, match="--allow-host-changes"):
            check_activity_type(name)
        check_activity_type(name, allow_host_changes=True)
    check_message("set-intervals")
    with pytest.raises(ValueError, match="'change-packages'"):
        check_message("change-packages")
