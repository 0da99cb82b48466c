"""Replay files: a failing sequence saved one abstract step per line, for ``--replay``."""

from __future__ import annotations

import json

from ..cases import Step

__all__ = ["REPLAY_HEADER", "read_replay", "write_replay"]

REPLAY_HEADER = "activitykit-replay/1"


def write_replay(steps: list[Step], profile: str) -> str:
    """Replay file text: a header line, then one abstract step per line."""
    lines = [json.dumps({"replay": REPLAY_HEADER, "profile": profile})]
    lines += [json.dumps(s, separators=(", ", ": ")) for s in steps]
    return "\n".join(lines) + "\n"


def read_replay(text: str, source: str = "replay") -> tuple[str | None, list[Step]]:
    """Parse a replay file; returns (profile or None, steps). A bad line is an InputError."""
    from ...errors import InputError
    from ..protocol import COMMANDS

    profile: str | None = None
    steps: list[Step] = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"not JSON ({exc.msg})", source=source, line=n) from None
        if not isinstance(obj, dict):
            raise InputError("each line must be a JSON object", source=source, line=n)
        if "replay" in obj:
            if obj["replay"] != REPLAY_HEADER:
                raise InputError(
                    f"replay format {obj['replay']!r} unknown; expected {REPLAY_HEADER}",
                    source=source,
                    line=n,
                )
            profile = obj.get("profile")
            continue
        cmd = obj.get("cmd")
        if cmd not in COMMANDS or cmd in ("hello", "reset"):
            allowed = ", ".join(c for c in COMMANDS if c not in ("hello", "reset"))
            raise InputError(
                f"field 'cmd' is {cmd!r}; a replay step is one of: {allowed}",
                source=source,
                line=n,
            )
        steps.append(obj)
    if not steps:
        raise InputError("no steps to replay", source=source)
    return profile, steps
