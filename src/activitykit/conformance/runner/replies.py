"""Compare the reference's and the IUT's replies to one step, field by field.

Every field the protocol gives a reply, and every event field, is compared; operation-ids
by role (``OpRenaming``), since the IUT chooses its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...check.rules import op_key
from ..cases import Step

__all__ = [
    "EVENT_FIELDS",
    "NO_OPERATION",
    "OpRenaming",
    "SentResult",
    "compare",
    "reply_status",
]


def _moves(reply: dict[str, Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for ev in reply.get("events", []):
        if ev.get("event") == "transition":
            path = out.setdefault(ev["activity"], [ev["from"]])
            path.append(ev["to"])
    return out


def _path(p: list[str] | None) -> str:
    return " -> ".join(p) if p else "no move"


def reply_status(reply: dict[str, Any]) -> str:
    """A reply's status, with the reason it gives (messages name both)."""
    return f"{reply['status']} ({reply['reason']})" if reply.get("reason") else reply["status"]


#: The fields of each event that the protocol fixes (section 3), compared per activity in
#: the order reported. ``cause`` is optional there, so it is not compared; operation-ids
#: are compared by role (``OpRenaming``), the rest by value.
EVENT_FIELDS: dict[str, tuple[str, ...]] = {
    "transition": ("from", "to"),
    "deliver": ("computer", "operation_id"),
    "result": ("computer", "operation_id", "status"),
    "consume": ("handler", "attempt"),
    "enqueue": (),
    "approve": (),
    "cancel": (),
}


class OpRenaming:
    """The consistent renaming of operation-ids between the reference and the IUT.

    The IUT chooses its own operation-ids (section 4: "integer or string", never reused on a
    computer), so values differ from the reference's; what must agree is *which* id went
    with which activity. Each delivery pairs (computer, reference id) with the IUT's id; a
    later mention of either must use its partner.
    """

    def __init__(self) -> None:
        self._to_iut: dict[tuple[Any, Any], Any] = {}
        self._to_ref: dict[tuple[Any, Any], Any] = {}

    def bind(self, computer: Any, ref_op: Any, iut_op: Any) -> str | None:
        """Pair two ids delivered together; a problem if either is already paired otherwise."""
        rk, ik = op_key(computer, ref_op), op_key(computer, iut_op)
        have = self._to_iut.get(rk, _MISSING)
        back = self._to_ref.get(ik, _MISSING)
        if have is _MISSING and back is _MISSING:
            self._to_iut[rk] = iut_op
            self._to_ref[ik] = ref_op
            return None
        if have is not _MISSING and op_key(computer, have) == ik:
            return None
        return (
            f"operation-id {iut_op!r} on {computer} stands for the reference's {ref_op!r} here, "
            "but was paired with another operation before"
        )

    def iut(self, computer: Any, ref_op: Any) -> Any:
        """The IUT's id for the reference's ``ref_op`` on ``computer`` (itself if unpaired)."""
        return self._to_iut.get(op_key(computer, ref_op), ref_op)


_MISSING = object()


def _per_activity(reply: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for ev in reply.get("events", []):
        out.setdefault(str(ev.get("activity")), []).append(ev)
    return out


def _show_event(ev: dict[str, Any] | None) -> str:
    if ev is None:
        return "nothing"
    fields = ", ".join(f"{k}={ev.get(k)!r}" for k in EVENT_FIELDS.get(ev["event"], ()))
    return f"{ev['event']}({fields})"


def _compare_events(
    aid: str, ref: list[dict[str, Any]], iut: list[dict[str, Any]], ops: OpRenaming
) -> str | None:
    """The first difference between two activities' event sequences, or None."""
    for i in range(max(len(ref), len(iut))):
        r = ref[i] if i < len(ref) else None
        u = iut[i] if i < len(iut) else None
        differs = r is None or u is None or r["event"] != u["event"]
        if not differs:
            assert r is not None and u is not None
            for name in EVENT_FIELDS.get(r["event"], ()):
                want = r.get(name)
                if name == "operation_id":
                    if r["event"] == "deliver":
                        problem = ops.bind(r.get("computer"), want, u.get(name))
                        if problem:
                            return f"{aid}: events[{i}] ({r['event']}): {problem}"
                        continue
                    want = ops.iut(r.get("computer"), want)
                if want != u.get(name):
                    return (
                        f"{aid}: field {name!r} of its event {i + 1} ({r['event']}): expected "
                        f"{want!r}, the IUT said {u.get(name)!r}"
                    )
        if differs:
            return (
                f"{aid}: its event {i + 1}: expected {_show_event(r)}, "
                f"the IUT reported {_show_event(u)}"
            )
    return None


@dataclass(frozen=True)
class SentResult:
    """An operation-result the harness queued on a computer: what each side was sent."""

    activity: str | None
    ref_op: Any
    iut_op: Any

    def describe(self) -> str:
        if self.activity is None:
            return f"operation-id {self.iut_op!r}"
        if self.ref_op == NO_OPERATION:
            return f"the result for {self.activity} (never delivered: operation-id {NO_OPERATION})"
        return f"the result for {self.activity} (operation-id {self.iut_op!r})"


#: The operation-id the harness sends for an activity that was never delivered.
NO_OPERATION = -1


def compare(
    step: Step,
    ref: dict[str, Any],
    iut: dict[str, Any],
    ops: OpRenaming | None = None,
    sent: list[SentResult] | None = None,
) -> list[str]:
    """Differences between the reference's and the IUT's replies to the same step.

    Every field section 2 gives a reply and every event field of section 3 is compared, in
    order where the protocol fixes one (events per activity, deliveries in creation order,
    results in the order queued). ``ops`` carries the operation-id renaming of the run;
    ``sent`` the results queued on the exchanging computer (to name them in messages).
    """
    ops = ops or OpRenaming()
    if ref["status"] != iut["status"]:
        msg = f"expected {reply_status(ref)}, the IUT answered {reply_status(iut)}"
        if step.get("cmd") == "create" and step.get("release", "queue") != "queue":
            msg += (
                f" (this case needs create's release {step['release']!r}: the model's direct "
                "Scheduled/Waiting -> In Progress; docs/iut-protocol.md section 4)"
            )
        return [msg]
    out = []
    rm, im = _moves(ref), _moves(iut)
    for aid in sorted(rm.keys() | im.keys()):
        if rm.get(aid) != im.get(aid):
            out.append(f"{aid}: expected {_path(rm.get(aid))}, the IUT did {_path(im.get(aid))}")
    if not out:
        re_, ie = _per_activity(ref), _per_activity(iut)
        for aid in sorted(re_.keys() | ie.keys()):
            problem = _compare_events(aid, re_.get(aid, []), ie.get(aid, []), ops)
            if problem:
                out.append(problem)
    if ref["status"] != "ok":
        return out
    cmd = step["cmd"]
    if cmd == "exchange":
        out += _compare_exchange(step["computer"], ref, iut, ops, sent)
    elif cmd == "consume" and ref["activity"] != iut["activity"]:
        out.append(
            f"field 'activity': expected to consume {ref['activity']}, "
            f"the IUT handed out {iut['activity']}"
        )
    elif cmd == "finish" and ref["accepted"] != iut["accepted"]:
        out.append(f"field 'accepted': expected {ref['accepted']}, the IUT said {iut['accepted']}")
    elif cmd == "query" and "state" in ref and ref["state"] != iut.get("state"):
        out.append(f"field 'state': expected {ref['state']}, the IUT said {iut.get('state')}")
    elif cmd == "query" and "states" in ref and ref["states"] != iut.get("states"):
        want, told = ref["states"], iut.get("states") or {}
        diff = [
            f"{a}: expected {want.get(a)}, the IUT said {told.get(a)}"
            for a in sorted(want.keys() | told.keys())
            if want.get(a) != told.get(a)
        ]
        out.append("field 'states': " + "; ".join(diff))
    return out


def _compare_exchange(
    computer: str,
    ref: dict[str, Any],
    iut: dict[str, Any],
    ops: OpRenaming,
    sent: list[SentResult] | None,
) -> list[str]:
    out = []
    rd = [d["activity"] for d in ref["delivered"]]
    idl = [d["activity"] for d in iut["delivered"]]
    if rd != idl:
        order = " (in creation order)" if sorted(rd) == sorted(idl) else ""
        out.append(
            f"field 'delivered'{order}: expected {rd or 'nothing'}, "
            f"the IUT delivered {idl or 'nothing'}"
        )
    else:
        own = {
            ev["activity"]: ev.get("operation_id")
            for ev in iut.get("events", [])
            if ev.get("event") == "deliver"
        }
        for i, (r, u) in enumerate(zip(ref["delivered"], iut["delivered"], strict=True)):
            if u.get("type") is not None and u["type"] != r["type"]:
                out.append(
                    f"field 'delivered[{i}].type' ({r['activity']}): expected {r['type']!r}, "
                    f"the IUT said {u['type']!r}"
                )
            if u["activity"] in own and own[u["activity"]] != u["operation_id"]:
                out.append(
                    f"field 'delivered[{i}].operation_id' ({u['activity']}): the IUT's deliver "
                    f"event said {own[u['activity']]!r}, its reply {u['operation_id']!r}"
                )
            else:
                problem = ops.bind(computer, r["operation_id"], u["operation_id"])
                if problem:
                    out.append(f"field 'delivered[{i}].operation_id' ({u['activity']}): {problem}")
    rr, ir = ref["results"], iut["results"]
    if len(rr) != len(ir):
        out.append(
            f"field 'results': expected {len(rr)} answer(s) (one per result queued on "
            f"{computer}), the IUT gave {len(ir)}"
        )
        return out
    for i, (r, u) in enumerate(zip(rr, ir, strict=True)):
        what = sent[i].describe() if sent and i < len(sent) else f"result {i + 1}"
        if sent and i < len(sent) and u["operation_id"] != sent[i].iut_op:
            out.append(
                f"field 'results[{i}].operation_id' ({what}): expected {sent[i].iut_op!r} "
                f"(results answered in the order queued), the IUT said {u['operation_id']!r}"
            )
        for name in ("activity", "accepted"):
            if r.get(name) != u.get(name):
                out.append(
                    f"field 'results[{i}].{name}' ({what}): expected {r.get(name)!r}, "
                    f"the IUT said {u.get(name)!r}"
                )
    return out
