"""Which messages the live harness may send to a real client running as root.

A real client carries out what it is told on the machine it runs on: a ``shutdown``
message reboots it, ``change-packages`` installs software, ``add-user`` creates accounts.
The harness therefore sends, by default, only messages that leave the host as it was:
scripts (the user's own, run where the user chose to run clients) and resynchronisation,
plus the protocol's bookkeeping messages. This is an allow-list on purpose: a type the kit
has not reviewed is refused too. ``allow_host_changes`` lifts the rule for a user who runs
clients in throw-away machines.
"""

from __future__ import annotations

from ..errors import InputError
from ..model.catalog import Channel, activity_type

__all__ = [
    "HOST_SAFE_MESSAGES",
    "PROTOCOL_MESSAGES",
    "HostChangeRefusedError",
    "check_activity_type",
    "check_message",
]

#: Activity messages that do not change the host they reach.
HOST_SAFE_MESSAGES = frozenset({"execute-script", "resynchronize"})
#: Server -> client messages of the exchange protocol itself.
PROTOCOL_MESSAGES = frozenset(
    {"accepted-types", "set-id", "unknown-id", "registration", "set-intervals"}
)

_HOW = "pass --allow-host-changes (only where the clients run in disposable machines)"


class HostChangeRefusedError(InputError):
    """An activity or message would change the host a real client runs on."""


def check_message(message_type: str, *, allow_host_changes: bool = False) -> None:
    """Raise :class:`HostChangeRefusedError` unless ``message_type`` may be sent."""
    if allow_host_changes or message_type in HOST_SAFE_MESSAGES | PROTOCOL_MESSAGES:
        return
    raise HostChangeRefusedError(
        f"refusing to send a {message_type!r} message to a real client: it would change "
        f"the host the client runs on (only {', '.join(sorted(HOST_SAFE_MESSAGES))} are "
        f"sent by default); to allow it, {_HOW}"
    )


def check_activity_type(name: str, *, allow_host_changes: bool = False) -> None:
    """Raise :class:`HostChangeRefusedError` for a client activity type that changes hosts.

    Server activities never reach a client and pass; unknown names raise the catalog's
    own error.
    """
    spec = activity_type(name)
    if spec.channel is Channel.SERVER or allow_host_changes:
        return
    if spec.message is None or spec.message not in HOST_SAFE_MESSAGES:
        raise HostChangeRefusedError(
            f"activity type {name} is refused in a live run: its "
            f"{spec.message or spec.channel.value!r} message would change the host the real "
            f"client runs on (allowed by default: ExecuteScriptRequest, ResynchronizeRequest); "
            f"to allow it, {_HOW}"
        )
