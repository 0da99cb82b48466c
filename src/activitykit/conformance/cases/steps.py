"""What a catalogue case is, and the step builders its scripts are written with.

A step is a protocol request without ``id``, except that ``result`` names the ``activity``
whose latest operation-id the harness fills in for each side (the IUT and the reference
number operations independently). The builders are short because the catalogue is read
more often than written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "BULK",
    "CLIENT_TYPE",
    "PROGRESS_TYPE",
    "SERVER_TYPE",
    "Case",
    "Step",
    "adv",
    "approve",
    "block",
    "cancel",
    "cl",
    "con",
    "crash",
    "ex",
    "fin",
    "one",
    "prog",
    "query",
    "res",
    "sv",
]

Step = dict[str, Any]

CLIENT_TYPE = "ExecuteScriptRequest"
SERVER_TYPE = "GenerateUsgReportActivity"
PROGRESS_TYPE = "SyncPocketRequest"


@dataclass(frozen=True)
class Case:
    name: str
    #: One line: what a conformant IUT does here (printed beside a failure).
    title: str
    runs: tuple[tuple[Step, ...], ...]


def cl(aid: str, state: str = "Queued", computer: str = "c1", **kw: Any) -> Step:
    return {
        "cmd": "create",
        "activity": aid,
        "kind": "client",
        "type": CLIENT_TYPE,
        "state": state,
        "computer": computer,
        **kw,
    }


def sv(aid: str, state: str = "Queued", type: str = SERVER_TYPE, **kw: Any) -> Step:
    return {"cmd": "create", "activity": aid, "kind": "server", "type": type, "state": state, **kw}


def ex(computer: str = "c1") -> Step:
    return {"cmd": "exchange", "computer": computer}


def res(aid: str, status: str = "succeeded", computer: str = "c1") -> Step:
    return {"cmd": "result", "computer": computer, "activity": aid, "status": status}


def con(handler: str = "h1") -> Step:
    return {"cmd": "consume", "handler": handler}


def fin(aid: str, status: str = "succeeded", handler: str = "h1") -> Step:
    return {"cmd": "finish", "handler": handler, "activity": aid, "status": status}


def crash(handler: str = "h1") -> Step:
    return {"cmd": "crash", "handler": handler}


def approve(aid: str) -> Step:
    return {"cmd": "approve", "activity": aid}


def block(aid: str) -> Step:
    return {"cmd": "block", "activity": aid}


def cancel(aid: str) -> Step:
    return {"cmd": "cancel", "activity": aid}


def prog(aid: str, value: float) -> Step:
    return {"cmd": "progress", "activity": aid, "value": value}


def adv(seconds: float) -> Step:
    return {"cmd": "advance", "seconds": seconds}


def query(aid: str | None = None) -> Step:
    return {"cmd": "query"} if aid is None else {"cmd": "query", "activity": aid}


#: More deliverable activities than any page or batch limit an implementation might use.
BULK = 150


def one(name: str, title: str, *steps: Step) -> Case:
    return Case(name, title, (tuple(steps),))
