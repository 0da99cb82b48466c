"""``create/...`` and ``input/...``: well-formed requests the spec refuses."""

from __future__ import annotations

from ...model import State
from .steps import (
    CLIENT_TYPE,
    SERVER_TYPE,
    adv,
    approve,
    block,
    cancel,
    cl,
    con,
    one,
    prog,
    query,
    sv,
)

__all__ = ["INPUT"]

# fmt: off
INPUT = [
    one("create/duplicate-id", "an activity id is unique", cl("a1"), cl("a1", "Blocked")),
    one("create/unknown-type", "an unknown activity type is refused",
         {**cl("a1"), "type": "FormatDiskRequest"}),
    one("create/kind-mismatch", "the kind must match the type's kind",
         {**cl("a1"), "type": SERVER_TYPE}, {**sv("a2"), "type": CLIENT_TYPE}),
    *(
        one(f"create/not-a-start-state/{s.value.lower().replace(' ', '-')}",
             f"an activity cannot be created {s.value}", cl("a1", s.value), sv("a2", s.value))
        for s in (State.IN_PROGRESS, State.SUCCEEDED, State.FAILED, State.CANCELED)
    ),
    one("create/client-needs-computer", "a client activity needs a computer",
         {k: v for k, v in cl("a1").items() if k != "computer"}),
    one("create/scheduled-needs-deliver-after", "Scheduled needs deliver_after",
         cl("a1", "Scheduled"), sv("a2", "Scheduled")),
    one("create/waiting-needs-dependency", "Waiting needs depends_on or progress_of",
         cl("a1", "Waiting"), sv("a2", "Waiting")),
    one("create/unknown-dependency", "a dependency must exist",
         cl("a1", "Waiting", depends_on=["nope"]), sv("a2", "Waiting", progress_of="nope",
                                                      threshold=0.5)),
    one("create/threshold-range", "a threshold lies in [0, 1]",
         sv("p"), sv("a1", "Waiting", progress_of="p", threshold=1.5)),
    one("create/unknown-release", "release is queue or direct",
         sv("a1", "Scheduled", deliver_after=1, release="sideways"),
         cl("a2", "Waiting", depends_on=["a1"], release="later"), query()),
    one("input/advance-backwards", "the clock never goes back", adv(10), adv(-5), adv(0)),
    one("input/progress-range", "a progress value lies in [0, 1] and only a running "
         "activity reports one", sv("a1"), prog("a1", 0.5), con(), prog("a1", 1.5),
         prog("a1", 1.0)),
    one("input/unknown-activity", "commands naming an unknown activity are refused",
         approve("x"), cancel("x"), block("x"), query("x"), prog("x", 0.5)),
    one("create/dependency-needs-waiting-or-blocked",
        "depends_on and progress_of, alone or together, are only for a Waiting or Blocked "
        "activity",
        sv("d"), cl("a1", depends_on=["d"]), sv("a2", "Scheduled", deliver_after=10,
                                                progress_of="d", threshold=0.5),
        cl("a3", depends_on=["d"], progress_of="d", threshold=0.5), query()),
]
# fmt: on
