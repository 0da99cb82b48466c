"""The job-handler protocol as data: job messages, report messages and their validation.

``docs/job-handler-protocol.md`` is the prose; this module is what the harness enforces.
Reports are validated in two steps: ``parse_reports`` checks the shape of one message
(pydantic, strict: ``"false"`` is not a boolean), ``Ledger.check`` the rules that need the
history of the session (a final report for an activity the handler does not hold). Either
raises ``ReportError`` naming the handler, the message, the field and the rule, so that a
misbehaving job-handler gets a sentence, not a traceback.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
)

from ...errors import InputError

__all__ = [
    "FINAL_STATUSES",
    "HANDLER_NAME",
    "PROTOCOL",
    "STATUSES",
    "Job",
    "Ledger",
    "Report",
    "ReportError",
    "ReportMessage",
    "decode_job",
    "encode_job",
    "encode_reports",
    "parse_reports",
]

#: Name and version carried by every job and report message.
PROTOCOL = "activitykit-jobhandler/1"
#: What a report may say, and the ones that end the handler's work on the activity.
STATUSES: tuple[str, ...] = ("in-progress", "succeeded", "failed")
FINAL_STATUSES: frozenset[str] = frozenset({"succeeded", "failed"})
#: A handler name: short, printable, safe in file names and trace fields.
HANDLER_NAME = r"^[A-Za-z0-9_.:-]{1,64}$"


class ReportError(InputError):
    """A report message that breaks the job-handler protocol."""


class _Strict(BaseModel):
    # Unknown fields are allowed (a handler may say more), wrong types are not.
    model_config = ConfigDict(strict=True, extra="allow", frozen=True)


class Job(_Strict):
    """The body of a job message (harness -> queue -> job-handler)."""

    protocol: Literal["activitykit-jobhandler/1"]
    activity: StrictStr
    #: Publication number of the activity (1, then 2+ if it was published again, e.g. after
    #: an approval); reports echo it so that a stale message's report cannot settle a newer one.
    gen: Annotated[StrictInt, Field(ge=1)]
    type: StrictStr
    #: For the kit's own handler: how long to work (real seconds) and how it ends. A user's
    #: handler does its real work and may ignore both.
    duration: Annotated[float, Field(ge=0, strict=False)] = 0.0
    outcome: Literal["succeeded", "failed"] = "succeeded"


class Report(_Strict):
    activity: Annotated[StrictStr, Field(min_length=1)]
    gen: Annotated[StrictInt, Field(ge=1)]
    status: Literal["in-progress", "succeeded", "failed"]
    #: The broker's ``redelivered`` flag of the delivery; required for ``in-progress``.
    redelivered: StrictBool | None = None


class ReportMessage(_Strict):
    """The body of a report message (job-handler -> reports queue -> harness)."""

    protocol: Literal["activitykit-jobhandler/1"]
    handler: Annotated[StrictStr, Field(pattern=HANDLER_NAME)]
    reports: Annotated[list[Report], Field(min_length=1)]


# ---------------------------------------------------------------------- encoding
def encode_job(activity: str, gen: int, atype: str, duration: float, outcome: str) -> bytes:
    return orjson.dumps(
        {
            "protocol": PROTOCOL,
            "activity": activity,
            "gen": gen,
            "type": atype,
            "duration": duration,
            "outcome": outcome,
        }
    )


def decode_job(body: bytes) -> Job:
    """A job message's body; ValueError with the reason if it is not one."""
    try:
        return Job.model_validate(orjson.loads(body))
    except (orjson.JSONDecodeError, ValidationError) as exc:
        raise ValueError(f"not a job message of {PROTOCOL}: {exc}") from None


def encode_reports(handler: str, reports: list[dict[str, Any]]) -> bytes:
    return orjson.dumps({"protocol": PROTOCOL, "handler": handler, "reports": reports})


def _where(handler: str | None, msg_no: int) -> str:
    who = f"handler {handler!r}" if handler else "a handler"
    return f"report message {msg_no} from {who}"


def _explain(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"])
        parts.append(f"{loc.lstrip('.') or '(message)'}: {err['msg']} (got {err.get('input')!r})")
    more = f" (+{exc.error_count() - 3} more)" if exc.error_count() > 3 else ""
    return "; ".join(parts) + more


def parse_reports(body: bytes, msg_no: int) -> ReportMessage:
    """Validate the shape of one report message; ReportError names field and rule."""
    try:
        raw = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ReportError(f"{_where(None, msg_no)}: the body is not JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise ReportError(
            f"{_where(None, msg_no)}: the body must be a JSON object, got {type(raw).__name__}"
        )
    handler = raw.get("handler") if isinstance(raw.get("handler"), str) else None
    if raw.get("protocol") != PROTOCOL:
        raise ReportError(
            f"{_where(handler, msg_no)}: protocol: must be {PROTOCOL!r} "
            f"(got {raw.get('protocol')!r})"
        )
    try:
        msg = ReportMessage.model_validate(raw)
    except ValidationError as exc:
        raise ReportError(f"{_where(handler, msg_no)}: {_explain(exc)}") from None
    for i, r in enumerate(msg.reports):
        if r.status == "in-progress" and r.redelivered is None:
            raise ReportError(
                f"{_where(msg.handler, msg_no)}: reports[{i}].redelivered: required for "
                "'in-progress' (the broker's redelivered flag of the delivery, true or false)"
            )
    return msg


# ---------------------------------------------------------------------- session rules
Message = tuple[str, int]  # (activity, gen): one published job message


class Ledger:
    """Who holds what: the rules of a report that need the session's history.

    A handler *holds* a message ``(activity, gen)`` from its ``in-progress`` report to its
    final report. ``prefetch`` (when known) bounds how many a handler may hold at once.
    """

    def __init__(self, prefetch: int | None = None) -> None:
        self.prefetch = prefetch
        self.published: set[Message] = set()
        self.deliveries: dict[Message, int] = defaultdict(int)
        self.held: dict[str, set[Message]] = defaultdict(set)
        self.holder: dict[Message, str] = {}
        self.final: dict[Message, tuple[str, str]] = {}
        self.stale: dict[str, set[Message]] = defaultdict(set)

    def check(self, msg: ReportMessage, msg_no: int) -> None:
        """Raise ReportError for the first report of ``msg`` that breaks a rule, else apply all.

        Every report is judged against the holdings as the earlier reports of the same message
        left them, on a copy: a bad message changes nothing.
        """
        h = msg.handler
        held = set(self.held[h])
        seen: dict[Message, int] = defaultdict(int)
        for i, r in enumerate(msg.reports):
            m = (r.activity, r.gen)
            where = f"{_where(h, msg_no)}: reports[{i}]"
            if m not in self.published:
                raise ReportError(
                    f"{where}: activity {r.activity!r} gen {r.gen} was never published to the "
                    "queue (echo the job's activity and gen)"
                )
            if r.status == "in-progress":
                if m in self.final:
                    h0, st = self.final[m]
                    raise ReportError(
                        f"{where}: {r.activity!r} was delivered again after handler {h0!r} "
                        f"reported it {st!r}: {h0!r} did not acknowledge the message in the "
                        "transaction of its final report"
                    )
                if m in held:
                    if not r.redelivered:
                        raise ReportError(
                            f"{where}: 'in-progress' for {r.activity!r}, which this handler "
                            "already holds (one delivery, one in-progress report)"
                        )
                    held.discard(m)  # its connection dropped and the broker redelivered it
                if self.prefetch is not None and len(held - self.stale[h]) >= self.prefetch:
                    raise ReportError(
                        f"{where}: 'in-progress' for {r.activity!r} while holding "
                        f"{len(held)} messages; prefetch is {self.prefetch}"
                    )
                if not r.redelivered and self.deliveries[m] + seen[m] > 0:
                    raise ReportError(
                        f"{where}.redelivered: false, but {r.activity!r} was delivered before; "
                        "the broker marks every later delivery redelivered (report its flag)"
                    )
                held.add(m)
                seen[m] += 1
            else:
                if m not in held:
                    raise ReportError(
                        f"{where}: {r.status!r} for {r.activity!r}, which this handler does "
                        "not hold (report 'in-progress' when the delivery arrives, then one "
                        "final status)"
                    )
                held.discard(m)
        for r in msg.reports:
            m = (r.activity, r.gen)
            if r.status == "in-progress":
                self.deliveries[m] += 1
                prev = self.holder.get(m)
                if prev is not None and prev != h:  # redelivered: the earlier holder lost it
                    self.held[prev].discard(m)
                    self.stale[prev].discard(m)
                self.stale[h].discard(m)
                self.holder[m] = h
                self.held[h].add(m)
            else:
                self.held[h].discard(m)
                self.stale[h].discard(m)
                self.holder.pop(m, None)
                self.final.setdefault(m, (h, r.status))

    def reconnected(self) -> None:
        """The harness lost its broker connection: handlers may have lost theirs too.

        What each handler held then is *stale*: it may still be finished (a report already
        in the reports queue) or come back redelivered, but it no longer counts against the
        prefetch bound, since the broker may have requeued it.
        """
        for h, held in self.held.items():
            self.stale[h] = set(held)

    def lose(self, handler: str) -> set[Message]:
        """The handler is gone: forget what it held (the broker requeues it); return that."""
        gone = self.held.pop(handler, set())
        self.stale.pop(handler, None)
        for m in gone:
            if self.holder.get(m) == handler:
                del self.holder[m]
        return gone
