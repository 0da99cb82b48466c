"""The activity-type catalog of docs/spec.md section 5: 41 types and how each one travels.

Each entry says which channel carries the type (Landscape Client's message exchange, a
server job-handler, or the Windows host agent), the client message it becomes, and two
behaviours the simulator needs: whether the work survives a client restart (package changes
and release upgrades are persisted as tasks) and whether it reports its own progress.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from .states import Kind

__all__ = [
    "CATALOG",
    "ActivityType",
    "Channel",
    "UnknownActivityTypeError",
    "activity_type",
    "types_of_kind",
]


class Channel(StrEnum):
    CLIENT = "client"
    SERVER = "server"
    #: Sent to a Windows host agent over gRPC; behaves as a client activity on its own channel.
    HOSTAGENT = "hostagent"


@dataclass(frozen=True, slots=True)
class ActivityType:
    name: str
    channel: Channel
    #: Client message name, or None for server and host-agent types.
    message: str | None = None
    #: The client re-runs it after a restart instead of losing its result.
    survives_restart: bool = False
    #: The activity reports progress values of its own (SyncPocketRequest).
    reports_progress: bool = False
    #: The client reports SUCCEEDED before acting (restart/shutdown power off 120 s later).
    reports_before_acting: bool = False

    @property
    def kind(self) -> Kind:
        return Kind.SERVER if self.channel is Channel.SERVER else Kind.CLIENT


class UnknownActivityTypeError(ValueError):
    """An activity type name that is not in the catalog."""


def _c(name: str, message: str, **kw: bool) -> ActivityType:
    return ActivityType(name, Channel.CLIENT, message, **kw)


_PACKAGES = dict(survives_restart=True)
_TYPES: list[ActivityType] = [
    _c("ResynchronizeRequest", "resynchronize"),
    _c("CreateUserRequest", "add-user"),
    _c("EditUserRequest", "edit-user"),
    _c("DeleteUserRequest", "remove-user"),
    _c("CreateGroupRequest", "add-group"),
    _c("AddGroupMemberRequest", "add-group-member"),
    _c("RemoveGroupMemberRequest", "remove-group-member"),
    _c("LockUserRequest", "lock-user"),
    _c("UnlockUserRequest", "unlock-user"),
    _c("ChangePackagesRequest", "change-packages", **_PACKAGES),
    _c("UpgradeAllPackagesRequest", "change-packages", **_PACKAGES),
    _c("ChangePackageProfilesRequest", "change-packages", **_PACKAGES),
    _c("ChangeUpgradeProfilesRequest", "change-packages", **_PACKAGES),
    _c("UpgradeKernelPackageRequest", "change-packages", **_PACKAGES),
    _c("DowngradeKernelPackageRequest", "change-packages", **_PACKAGES),
    _c("ReleaseUpgradeRequest", "release-upgrade", **_PACKAGES),
    _c("ChangeRepositoryProfilesRequest", "apt-sources-replace"),
    _c("SignalProcessRequest", "signal-process"),
    _c("ExecuteScriptRequest", "execute-script"),
    _c("RestartRequest", "shutdown", reports_before_acting=True),
    _c("ShutdownRequest", "shutdown", reports_before_acting=True),
    _c("InstallSnaps", "install-snaps"),
    _c("RemoveSnaps", "remove-snaps"),
    _c("RefreshSnaps", "refresh-snaps"),
    _c("HoldSnaps", "hold-snaps"),
    _c("UnholdSnaps", "unhold-snaps"),
    _c("UsgActivity", "usg"),
    _c("AttachProRequest", "attach-pro"),
    _c("DetachProRequest", "detach-pro"),
    _c("GenerateFDERecoveryKeyRequest", "fde-recovery-key"),
    *(
        ActivityType(n, Channel.HOSTAGENT)
        for n in (
            "StartChildComputerActivity",
            "StopChildComputerActivity",
            "DeleteChildComputerActivity",
            "SetDefaultChildComputerActivity",
            "ShutdownHostComputerActivity",
            "CreateChildComputerActivity",
            "DeleteUnmanagedWSLInstanceActivity",
        )
    ),
    ActivityType("SyncPocketRequest", Channel.SERVER, reports_progress=True),
    ActivityType("GenerateUsgReportActivity", Channel.SERVER),
    ActivityType("RemoveComputerActivity", Channel.SERVER),
    ActivityType("ArchiveRequest", Channel.SERVER),
]

#: Type name -> ActivityType, in docs/spec.md order.
CATALOG: Mapping[str, ActivityType] = MappingProxyType({t.name: t for t in _TYPES})
if len(CATALOG) != len(_TYPES) or len(CATALOG) != 41:  # pragma: no cover - load-time guard
    raise RuntimeError(f"activity catalog must list 41 distinct types, has {len(CATALOG)}")


def activity_type(name: str) -> ActivityType:
    """Look up a type by its exact name; an unknown name suggests the closest ones."""
    try:
        return CATALOG[name]
    except (KeyError, TypeError):
        close = difflib.get_close_matches(str(name), list(CATALOG), n=3, cutoff=0.5)
        hint = (
            f"; did you mean {' or '.join(close)}?"
            if close
            else (f"; known types: {', '.join(CATALOG)}")
        )
        raise UnknownActivityTypeError(f"unknown activity type {name!r}{hint}") from None


def types_of_kind(kind: Kind) -> list[ActivityType]:
    return [t for t in CATALOG.values() if t.kind is kind]
