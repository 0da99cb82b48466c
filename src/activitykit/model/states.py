"""The eight activity states, the two activity kinds, and tolerant state-name parsing.

State values are the exact names used by docs/spec.md ("In Progress", not "IN_PROGRESS"), so a
``State`` serialises to the trace format without a lookup.
"""

from __future__ import annotations

import re
from enum import StrEnum

__all__ = [
    "FINAL_STATES",
    "START_STATES",
    "Kind",
    "State",
    "UnknownKindError",
    "UnknownStateError",
    "parse_kind",
    "parse_state",
]


class State(StrEnum):
    QUEUED = "Queued"
    SCHEDULED = "Scheduled"
    WAITING = "Waiting"
    BLOCKED = "Blocked"
    IN_PROGRESS = "In Progress"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    CANCELED = "Canceled"


class Kind(StrEnum):
    """Where an activity runs: on a managed computer (client) or on a job-handler (server)."""

    CLIENT = "client"
    SERVER = "server"


#: Every activity is created in exactly one of these (docs/spec.md section 2).
START_STATES: frozenset[State] = frozenset(
    {State.QUEUED, State.SCHEDULED, State.WAITING, State.BLOCKED}
)
#: States no activity of either kind ever leaves. Canceled is not here: whether it is final
#: for client activities depends on the profile (see ``activitykit.model.machines``).
FINAL_STATES: frozenset[State] = frozenset({State.SUCCEEDED, State.FAILED})


class UnknownStateError(ValueError):
    """A state name that is neither a spec name, a spelling variant, nor an API alias."""


class UnknownKindError(ValueError):
    """An activity kind other than ``client`` or ``server``."""


def _norm(name: str) -> str:
    # "IN_PROGRESS", "in-progress", " In  Progress " all fold to "in progress".
    return re.sub(r"[\s_\-]+", " ", name).strip().lower()


# Landscape's legacy API statuses and UI labels (docs/spec.md section 6) map onto kit states.
_ALIASES: dict[str, State] = {
    "undelivered": State.QUEUED,
    "unapproved": State.BLOCKED,
    "delivered": State.IN_PROGRESS,
    "inprogress": State.IN_PROGRESS,
    "cancelled": State.CANCELED,
}
_BY_NAME: dict[str, State] = {_norm(s.value): s for s in State} | _ALIASES


def _accepted() -> str:
    spec = ", ".join(s.value for s in State)
    return f"{spec} (any case, with spaces, '_' or '-'), or the API aliases " + ", ".join(
        sorted(_ALIASES)
    )


def parse_state(name: str | State) -> State:
    """Return the ``State`` named by ``name``, accepting spelling variants and API aliases.

    >>> parse_state("in_progress") is State.IN_PROGRESS
    True
    """
    if isinstance(name, State):
        return name
    if not isinstance(name, str):
        raise UnknownStateError(
            f"state must be a string, got {type(name).__name__} {name!r}; accepted: {_accepted()}"
        )
    try:
        return _BY_NAME[_norm(name)]
    except KeyError:
        raise UnknownStateError(f"unknown state {name!r}; accepted: {_accepted()}") from None


def parse_kind(name: str | Kind) -> Kind:
    """Return the ``Kind`` named by ``name`` (case-insensitive)."""
    if isinstance(name, Kind):
        return name
    if isinstance(name, str):
        try:
            return Kind(name.strip().lower())
        except ValueError:
            pass
    raise UnknownKindError(f"unknown activity kind {name!r}; accepted: client, server")
