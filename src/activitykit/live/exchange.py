"""The Landscape message-system protocol, server side, without HTTP.

:class:`MessageSystem` answers one decoded exchange payload or one ping at a time. It keeps,
per registered computer, the ids, the exchange token and both message streams' sequence
numbers, and asks an :class:`~activitykit.live.port.ActivityPort` for the work to deliver.
It never reads a clock (every call carries ``t``) and never blocks, so the HTTP layer can
call it from its event loop.

The sequence rules (both directions use them, the client as sender of results and the
server as sender of activities):

* the receiver says which sequence number it expects next;
* the sender numbers its batch from the first message; messages below the expected number
  are duplicates of ones already processed and are skipped; a batch that starts above it
  is not processed at all, and the answer repeats the expected number so that the sender
  notices and resynchronises;
* the sender keeps what it sent until the receiver's expected number passes it, and sends
  it again otherwise (an answer lost on the way is resent at the next exchange).

One idea at about 400 lines, kept whole: the protocol's server side, whose sequence rules,
registration, delivery and results all act on the same per-computer state.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..scenario.schema import MIN_URGENT_INTERVAL
from .port import ActivityPort, ComputerView, Notice, OperationResult
from .safety import check_message

__all__ = [
    "DEFAULT_ACCEPTED_TYPES",
    "SERVER_API",
    "Intervals",
    "MessageSystem",
    "ProtocolError",
    "types_digest",
]

#: The message API this server speaks (the client's newest at the time of writing).
SERVER_API = "3.3"

#: Client -> server message types the server takes. ``register``, ``operation-result``
#: and ``resynchronize`` are the ones the protocol needs; the rest are data the default
#: plugins send, accepted so that they compete for the 100-message exchange limit as they
#: do against a real server.
DEFAULT_ACCEPTED_TYPES = frozenset(
    {
        "register",
        "operation-result",
        "resynchronize",
        "load-average",
        "computer-info",
        "distribution-info",
        "computer-uptime",
    }
)

#: The scenario schema's limit (the client announces an exchange 10 s ahead and fails for good
#: on a negative delay; it also writes the value into its config file, so it crash-loops after
#: a restart), checked again here because a set-intervals message may be built without a
#: scenario.
MIN_URGENT_EXCHANGE_INTERVAL = int(MIN_URGENT_INTERVAL)

#: operation-result statuses.
SUCCEEDED, FAILED = 6, 5


class ProtocolError(ValueError):
    """A request the server refuses; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


def types_digest(types: Iterable[str]) -> bytes:
    """The digest both sides use to tell whether their lists of message types agree."""
    return hashlib.md5(";".join(sorted(set(types))).encode("ascii")).digest()


@dataclass(frozen=True, slots=True)
class Intervals:
    """Client intervals in seconds, as sent in a ``set-intervals`` message."""

    exchange: int
    urgent_exchange: int
    ping: int

    def __post_init__(self) -> None:
        for name in ("exchange", "urgent_exchange", "ping"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} interval must be a whole number >= 1 s, got {value!r}")
        if self.urgent_exchange < MIN_URGENT_EXCHANGE_INTERVAL:
            raise ValueError(
                f"urgent_exchange interval must be >= {MIN_URGENT_EXCHANGE_INTERVAL} s, got "
                f"{self.urgent_exchange}: Landscape Client schedules a notice 10 s before an "
                "urgent exchange and stops for good on a shorter interval"
            )

    def message(self) -> dict[str, Any]:
        return {
            "type": "set-intervals",
            "exchange": self.exchange,
            "urgent-exchange": self.urgent_exchange,
            "ping": self.ping,
        }


@dataclass(slots=True)
class _Computer:
    name: str
    secure_id: str
    insecure_id: int
    account: str
    token: bytes
    accepts: frozenset[str] = frozenset()
    #: Sequence number of the next client message we expect (None: not seen yet).
    in_expected: int | None = None
    #: Sequence number of ``outbox[0]`` (None: the client has not told us its count yet).
    out_base: int | None = None
    #: Server messages sent but not yet acknowledged, in sequence order.
    outbox: list[dict[str, Any]] = field(default_factory=list)
    #: Server messages to send at the next exchange (set-intervals...).
    queued: list[dict[str, Any]] = field(default_factory=list)

    def view(self) -> ComputerView:
        return ComputerView(self.name, self.secure_id, self.insecure_id, self.accepts)


def _field(payload: Mapping[str, Any], key: str, kind: type, *, required: bool = True) -> Any:
    value = payload.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        found = "nothing" if value is None else f"{type(value).__name__} {value!r:.40}"
        raise ProtocolError(400, f"payload field {key!r} must be {kind.__name__}, got {found}")
    if kind is int and value < 0:
        raise ProtocolError(400, f"payload field {key!r} must be >= 0, got {value}")
    return value


def _messages(payload: Mapping[str, Any]) -> list[dict[str, Any]]:
    messages = _field(payload, "messages", list)
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise ProtocolError(400, f"messages[{i}] must be a dict, got {type(message).__name__}")
        kind = message.get("type")
        if isinstance(kind, bytes):  # old clients send the type as bytes
            kind = message["type"] = kind.decode("ascii", "replace")
        if not isinstance(kind, str):
            raise ProtocolError(400, f"messages[{i}] has no string 'type'")
    return messages


class MessageSystem:
    """Registration, tokens, sequences and message delivery for a fleet of clients."""

    def __init__(
        self,
        port: ActivityPort,
        *,
        server_uuid: str | None = None,
        accepted_types: Iterable[str] = DEFAULT_ACCEPTED_TYPES,
        intervals: Intervals | None = None,
        account: str | None = None,
        allow_host_changes: bool = False,
    ):
        self.port = port
        self.server_uuid = server_uuid or secrets.token_hex(16)
        self.accepted_types = frozenset(accepted_types)
        self._accepted_digest = types_digest(self.accepted_types)
        self.intervals = intervals
        self.account = account
        self.allow_host_changes = allow_host_changes
        self._by_secure: dict[str, _Computer] = {}
        self._by_insecure: dict[int, _Computer] = {}
        self._by_name: dict[str, _Computer] = {}

    # ------------------------------------------------------------------ queries

    def computers(self) -> list[ComputerView]:
        """Registered computers, newest registration of each name, in registration order."""
        return [c.view() for c in self._by_name.values()]

    def computer(self, name: str) -> ComputerView | None:
        c = self._by_name.get(name)
        return None if c is None else c.view()

    def name_of(
        self, *, secure_id: str | None = None, insecure_id: str | None = None
    ) -> str | None:
        """The name of the computer with this id, if it is registered."""
        c = self._by_secure.get(secure_id) if secure_id else None
        if c is None and insecure_id and insecure_id.isdigit():
            c = self._by_insecure.get(int(insecure_id))
        return None if c is None else c.name

    def queue(self, name: str, message: dict[str, Any]) -> None:
        """Send a server message (``set-intervals``...) to ``name`` at its next exchange."""
        check_message(str(message.get("type")), allow_host_changes=self.allow_host_changes)
        self._by_name[name].queued.append(dict(message))

    # ------------------------------------------------------------------ ping

    def ping(self, insecure_id: str | None, t: float) -> bool:
        """Answer a ping: does the computer with this insecure id have messages waiting?"""
        try:
            number = int(insecure_id or "")
        except ValueError:
            raise ProtocolError(
                400, f"insecure_id must be an integer, got {insecure_id!r:.40}"
            ) from None
        c = self._by_insecure.get(number)
        if c is None:
            raise ProtocolError(404, f"no computer has insecure id {number}")
        view = c.view()
        # Queued server messages need an exchange too; sent but unacknowledged ones do not
        # (the client acknowledges them at its next exchange, whenever that comes).
        waiting = bool(c.queued) or self.port.has_messages(view, t)
        self.port.notify(Notice("ping", t, c.name, {"messages": waiting}))
        return waiting

    # ------------------------------------------------------------------ exchange

    def exchange(
        self, payload: Any, computer_id: str | None, token: str | None, t: float
    ) -> dict[str, Any]:
        """Answer one exchange; raises :class:`ProtocolError` for a request to refuse."""
        if not isinstance(payload, dict):
            raise ProtocolError(400, f"payload must be a dict, got {type(payload).__name__}")
        messages = _messages(payload)
        sequence = _field(payload, "sequence", int)
        next_expected = _field(payload, "next-expected-sequence", int)
        digest = _field(payload, "accepted-types", bytes, required=False)
        client_types = _field(payload, "client-accepted-types", list, required=False)
        if client_types is not None and not all(isinstance(x, str) for x in client_types):
            raise ProtocolError(400, "payload field 'client-accepted-types' must list strings")

        answer: dict[str, Any] = {"server-uuid": self.server_uuid, "server-api": SERVER_API}
        out: list[dict[str, Any]] = []
        if digest != self._accepted_digest:
            out.append({"type": "accepted-types", "types": sorted(self.accepted_types)})

        if not computer_id:
            out.extend(self._unregistered(messages, t))
            answer["messages"] = out
            detail = {"registered": False, "received": len(messages), "sent": len(out)}
            self.port.notify(Notice("exchange", t, None, detail))
            return answer

        c = self._by_secure.get(computer_id)
        if c is None:
            # The client forgets its ids and registers again; this is the protocol's answer
            # to a secure id the server does not know (for example after a server reset).
            self.port.notify(Notice("unknown-id", t, None, {"secure_id": computer_id[:64]}))
            answer["messages"] = [{"type": "unknown-id"}]
            return answer
        # A client sends no token after a failed exchange (it forgets the old one before
        # each attempt), and the server then trusts the secure id alone.
        if token and token.encode() != c.token:
            raise ProtocolError(403, f"exchange token does not match for computer {c.name}")
        if client_types is not None:
            c.accepts = frozenset(client_types)

        accepted = self._receive(c, sequence, messages, t)
        view = c.view()
        results = [r for m in accepted if (r := self._result_of(c, m, t)) is not None]
        resent = self._acknowledge(c, next_expected, t)
        new = out + c.queued
        c.queued = []
        for message in self.port.exchange(view, results, t):
            check_message(str(message.get("type")), allow_host_changes=self.allow_host_changes)
            new.append(message)
        c.outbox.extend(new)
        c.token = secrets.token_hex(16).encode()
        answer.update(
            {
                "messages": resent + new,
                "next-expected-sequence": c.in_expected,
                "next-exchange-token": c.token,  # bytes: a str token stalls the client
                "client-accepted-types-hash": types_digest(c.accepts),
            }
        )
        self.port.notify(
            Notice(
                "exchange",
                t,
                c.name,
                {
                    "registered": True,
                    "received": len(messages),
                    "accepted": len(accepted),
                    "received_types": sorted({m["type"] for m in accepted}),
                    "sent": len(resent) + len(new),
                    "resent": len(resent),
                    "sent_types": sorted({m["type"] for m in resent + new}),
                    "total_messages": payload.get("total-messages"),
                    "sequence": sequence,
                    "next_expected": next_expected,
                },
            )
        )
        return answer

    def _unregistered(self, messages: list[dict[str, Any]], t: float) -> list[dict[str, Any]]:
        """Registration: a ``register`` message gets a ``set-id`` with both ids."""
        out: list[dict[str, Any]] = []
        for message in messages:
            if message["type"] != "register":
                continue  # the client only sends register before it has an id
            title, account = message.get("computer_title"), message.get("account_name")
            if not isinstance(title, str) or not title or not isinstance(account, str):
                self.port.notify(
                    Notice("bad-message", t, None, {"type": "register", "reason": "no title"})
                )
                continue
            if self.account is not None and account != self.account:
                out.append({"type": "registration", "info": "unknown-account"})
                continue
            c = _Computer(
                name=title,
                secure_id=secrets.token_hex(20),
                insecure_id=len(self._by_insecure) + 1,
                account=account,
                token=secrets.token_hex(16).encode(),
            )
            if self.intervals is not None:
                c.queued.append(self.intervals.message())
            self._by_secure[c.secure_id] = c
            self._by_insecure[c.insecure_id] = c
            self._by_name.pop(title, None)  # a re-registration replaces the old entry
            self._by_name[title] = c
            out.append({"type": "set-id", "id": c.secure_id, "insecure-id": c.insecure_id})
            detail = {"insecure_id": c.insecure_id, "account": account}
            self.port.notify(Notice("register", t, title, detail))
        return out

    def _receive(
        self, c: _Computer, sequence: int, messages: list[dict[str, Any]], t: float
    ) -> list[dict[str, Any]]:
        """Apply the sequence rules to the client's batch; return the messages to process."""
        if c.in_expected is None:
            c.in_expected = sequence
        if sequence > c.in_expected:
            # Messages are missing before this batch: take none; the unchanged expected
            # number in the answer makes the client resynchronise.
            detail = {"stream": "client", "expected": c.in_expected, "got": sequence}
            self.port.notify(Notice("sequence", t, c.name, detail))
            return []
        skip = c.in_expected - sequence
        c.in_expected = max(c.in_expected, sequence + len(messages))
        return messages[skip:]

    def _acknowledge(self, c: _Computer, next_expected: int, t: float) -> list[dict[str, Any]]:
        """Drop what the client has processed; return what it has not (to send again)."""
        if c.out_base is None:
            c.out_base = next_expected
        if c.out_base <= next_expected <= c.out_base + len(c.outbox):
            del c.outbox[: next_expected - c.out_base]
        else:
            # The client counts server messages we never sent, or wants ones we dropped
            # after it acknowledged them: start counting again from its number.
            detail = {
                "stream": "server",
                "expected_from": c.out_base,
                "expected_to": c.out_base + len(c.outbox),
                "got": next_expected,
                "dropped": len(c.outbox),
            }
            self.port.notify(Notice("sequence", t, c.name, detail))
            c.outbox.clear()
        c.out_base = next_expected
        resent = list(c.outbox)
        return resent

    def _result_of(self, c: _Computer, message: dict[str, Any], t: float) -> OperationResult | None:
        """The activity result a client message carries, if any."""
        if message["type"] == "resynchronize" and isinstance(message.get("operation-id"), int):
            # The client answers a resynchronize request with this message instead of an
            # operation-result; receiving it completes the request.
            stamp = _stamp(message)
            return OperationResult(
                message["operation-id"], SUCCEEDED, "resynchronized", None, stamp
            )
        if message["type"] != "operation-result":
            return None  # plugin data and client-initiated resynchronisations: counted only
        op, status = message.get("operation-id"), message.get("status")
        text, code = message.get("result-text", ""), message.get("result-code")
        if (
            not isinstance(op, int)
            or not isinstance(status, int)
            or not isinstance(text, str)
            or not (code is None or isinstance(code, int))
        ):
            detail = {"type": "operation-result", "reason": f"malformed fields: {message!r:.200}"}
            self.port.notify(Notice("bad-message", t, c.name, detail))
            return None
        return OperationResult(op, status, text, code, _stamp(message))


def _stamp(message: dict[str, Any]) -> int | None:
    stamp = message.get("timestamp")
    return stamp if isinstance(stamp, int) and not isinstance(stamp, bool) else None
