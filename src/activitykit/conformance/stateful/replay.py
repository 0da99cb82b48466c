"""Replay files: a failing sequence saved one abstract step per line, for ``--replay``."""

from __future__ import annotations

import json
import os

import orjson

from ..._json import loads as json_loads
from ..._json import reason
from ..cases import Step

__all__ = ["MAX_REPLAY_BYTES", "REPLAY_HEADER", "load_replay", "read_replay", "write_replay"]

REPLAY_HEADER = "activitykit-replay/1"
#: Bytes a replay file may have: a shrunk counterexample has tens of steps of a hundred
#: bytes; this is thousands of times more, and /dev/zero is refused at once.
MAX_REPLAY_BYTES = 4 * 2**20


def write_replay(steps: list[Step], profile: str) -> str:
    """Replay file text: a header line, then one abstract step per line."""
    lines = [json.dumps({"replay": REPLAY_HEADER, "profile": profile})]
    lines += [json.dumps(s, separators=(", ", ": ")) for s in steps]
    return "\n".join(lines) + "\n"


def load_replay(path: str | os.PathLike[str]) -> tuple[str | None, list[Step]]:
    """Read the replay file at ``path`` (a regular file, at most ``MAX_REPLAY_BYTES``)."""
    from ..._files import read_text_bounded

    text = read_text_bounded(path, MAX_REPLAY_BYTES, "a replay file", regular_only=True)
    return read_replay(text, str(path))


def read_replay(text: str, source: str = "replay") -> tuple[str | None, list[Step]]:
    """Parse a replay file; returns (profile or None, steps). A bad line is an InputError."""
    from ...errors import InputError
    from ..protocol import COMMANDS

    profile: str | None = None
    steps: list[Step] = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:  # orjson: nesting beyond 1024 levels is an error, not a recursion
            obj = json_loads(line)
        except orjson.JSONDecodeError as exc:
            raise InputError(f"not JSON ({reason(exc)})", source=source, line=n) from None
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
