"""The IUT protocol as data: its version, its commands, and the shape of every reply.

``docs/iut-protocol.md`` is the prose; this module is what the harness enforces. Replies are
validated with pydantic in strict mode so that a ``"1"`` where an integer belongs, a state
name that is not one, or an ``ok`` exchange reply without its ``delivered`` list is reported
as a protocol failure naming the request, instead of surfacing later as a puzzling deviation.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
)

from ..model import parse_state
from ..server.store import RELEASE_MODES

__all__ = [
    "COMMANDS",
    "PROTOCOL",
    "RELEASE_MODES",
    "ReplyShapeError",
    "validate_reply",
]

#: The protocol name and version a ``hello`` carries; an IUT refuses a version it lacks.
PROTOCOL = "activitykit-iut/1"

#: ``create``'s optional ``release``: ``queue`` (the default: a due Scheduled or released
#: Waiting activity moves to Queued) or ``direct`` (it keeps its state until the moment of
#: delivery, then moves straight to In Progress). Added to version 1 as an optional field,
#: so the protocol name is unchanged; an IUT without it refuses ``direct`` with a reason,
#: and every case that uses it then fails (the reference accepts it). ``RELEASE_MODES`` is
#: the store's (``activitykit.server``), re-exported here.

#: Every command of version 1, in the order the document describes them.
COMMANDS: tuple[str, ...] = (
    "hello",
    "reset",
    "create",
    "exchange",
    "result",
    "consume",
    "finish",
    "crash",
    "approve",
    "block",
    "cancel",
    "progress",
    "advance",
    "query",
)


def _state(name: str) -> str:
    return parse_state(name).value


StateName = Annotated[StrictStr, AfterValidator(_state)]
OperationId = StrictInt | StrictStr


class _Strict(BaseModel):
    # Unknown fields are allowed (an IUT may say more), wrong types are not.
    model_config = ConfigDict(strict=True, extra="allow", populate_by_name=True)


class TransitionEvent(_Strict):
    event: Literal["transition"]
    activity: StrictStr
    from_: StateName = Field(alias="from")
    to: StateName
    cause: StrictStr | None = None


class DeliverEvent(_Strict):
    event: Literal["deliver"]
    activity: StrictStr
    computer: StrictStr
    operation_id: OperationId


class ResultEvent(_Strict):
    event: Literal["result"]
    activity: StrictStr
    computer: StrictStr
    operation_id: OperationId
    status: Literal["succeeded", "failed"]


class ConsumeEvent(_Strict):
    event: Literal["consume"]
    activity: StrictStr
    handler: StrictStr
    attempt: Annotated[StrictInt, Field(ge=1)] = 1


class _ActivityEvent(_Strict):
    activity: StrictStr


class EnqueueEvent(_ActivityEvent):
    event: Literal["enqueue"]


class CancelEvent(_ActivityEvent):
    event: Literal["cancel"]


class ApproveEvent(_ActivityEvent):
    event: Literal["approve"]


Event = Annotated[
    TransitionEvent
    | DeliverEvent
    | ResultEvent
    | ConsumeEvent
    | EnqueueEvent
    | CancelEvent
    | ApproveEvent,
    Field(discriminator="event"),
]


class Reply(_Strict):
    id: StrictInt
    status: Literal["ok", "refused", "error"]
    reason: StrictStr | None = None
    events: list[Event] = []


class Delivered(_Strict):
    activity: StrictStr
    operation_id: OperationId
    type: StrictStr | None = None


class ResultAck(_Strict):
    operation_id: OperationId
    activity: StrictStr | None = None
    accepted: StrictBool
    reason: StrictStr | None = None


class _HelloOk(_Strict):
    protocol: StrictStr
    implementation: StrictStr | None = None


class _ExchangeOk(_Strict):
    delivered: list[Delivered]
    results: list[ResultAck]


class _ConsumeOk(_Strict):
    activity: StrictStr | None


class _FinishOk(_Strict):
    accepted: StrictBool


class _QueryOneOk(_Strict):
    state: StateName


class _QueryAllOk(_Strict):
    states: dict[StrictStr, StateName]


class ReplyShapeError(ValueError):
    """A reply that is JSON but not a valid version-1 reply to the request it answers."""


def _ok_model(request: dict[str, Any]) -> type[_Strict] | None:
    cmd = request.get("cmd")
    if cmd == "query":
        return _QueryOneOk if request.get("activity") is not None else _QueryAllOk
    return {
        "hello": _HelloOk,
        "exchange": _ExchangeOk,
        "consume": _ConsumeOk,
        "finish": _FinishOk,
    }.get(str(cmd))


def _explain(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        where = ".".join(str(p) for p in err["loc"]) or "(reply)"
        parts.append(f"{where}: {err['msg']} (got {err.get('input')!r})")
    more = f" (+{exc.error_count() - 3} more)" if exc.error_count() > 3 else ""
    return "; ".join(parts) + more


def validate_reply(request: dict[str, Any], raw: Any) -> dict[str, Any]:
    """Check ``raw`` (decoded JSON) against the reply shape for ``request``.

    Returns the reply with state names canonical ("in_progress" becomes "In Progress") and
    ``events`` always present; raises ``ReplyShapeError`` naming the offending field.
    """
    if not isinstance(raw, dict):
        raise ReplyShapeError(f"a reply must be a JSON object, got {type(raw).__name__}")
    try:
        reply = Reply.model_validate(raw)
    except ValidationError as exc:
        raise ReplyShapeError(_explain(exc)) from None
    if reply.id != request.get("id"):
        raise ReplyShapeError(f"reply id {reply.id} does not answer request id {request.get('id')}")
    out = dict(raw)
    out["events"] = [e.model_dump(by_alias=True, exclude_none=True) for e in reply.events]
    if reply.status == "ok":
        model = _ok_model(request)
        if model is not None:
            try:
                extra = model.model_validate(raw)
            except ValidationError as exc:
                raise ReplyShapeError(
                    f"an ok reply to {request.get('cmd')!r} must carry "
                    f"{', '.join(model.model_fields)}: {_explain(exc)}"
                ) from None
            out.update(extra.model_dump(include=set(model.model_fields)))
    elif not reply.reason:
        raise ReplyShapeError(f"a {reply.status!r} reply must give a non-empty 'reason'")
    return out
