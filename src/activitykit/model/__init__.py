"""The reference model: states, the client and server state machines, profiles, types.

This is where the spec lives as data. Nothing here knows about time, SimPy or files.
"""

from .catalog import (
    CATALOG,
    ActivityType,
    Channel,
    UnknownActivityTypeError,
    activity_type,
    types_of_kind,
)
from .machines import (
    DEFAULT_PROFILE,
    MACHINES,
    MachineDefinitionError,
    MoveCheck,
    Profile,
    StateMachine,
    UnknownProfileError,
    check_move,
    machine,
    parse_profile,
)
from .states import (
    FINAL_STATES,
    START_STATES,
    Kind,
    State,
    UnknownKindError,
    UnknownStateError,
    parse_kind,
    parse_state,
)

__all__ = [
    "CATALOG",
    "DEFAULT_PROFILE",
    "FINAL_STATES",
    "MACHINES",
    "START_STATES",
    "ActivityType",
    "Channel",
    "Kind",
    "MachineDefinitionError",
    "MoveCheck",
    "Profile",
    "State",
    "StateMachine",
    "UnknownActivityTypeError",
    "UnknownKindError",
    "UnknownProfileError",
    "UnknownStateError",
    "activity_type",
    "check_move",
    "machine",
    "parse_kind",
    "parse_profile",
    "parse_state",
    "types_of_kind",
]
