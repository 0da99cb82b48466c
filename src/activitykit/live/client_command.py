"""Which Landscape Client to run and how: a source tree or an installed program.

A source tree runs under the system interpreter, through a link farm when a copy lost its
symlinks; an installed client runs as found on PATH. Either way every daemon runs as the
invoking user, so that each instance keeps its files in the run folder.
"""

from __future__ import annotations

import os
import shlex
import shutil
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError

__all__ = ["CLIENT_SRC_ENV", "ClientCommand", "find_client_source"]

#: Environment variable naming a client source tree for the live tests and the CLI.
CLIENT_SRC_ENV = "ACTIVITYKIT_CLIENT_SRC"


@dataclass(frozen=True, slots=True)
class ClientCommand:
    """How to start one client: the program, its arguments before ``-c CONFIG``, its env.

    ``source`` is the client tree for a source run (None for an installed client).
    """

    argv: tuple[str, ...]
    env: Mapping[str, str]
    description: str
    source: Path | None = None

    @classmethod
    def from_source(cls, src: str | Path, python: str = "/usr/bin/python3") -> ClientCommand:
        """A client source tree run by the system interpreter (its Debian deps installed)."""
        root = Path(src).resolve()
        script = root / "scripts" / "landscape-client"
        if not script.is_file() or not (root / "landscape" / "__init__.py").is_file():
            raise InputError(
                f"--client-src {src}: not a Landscape Client source tree "
                "(needs scripts/landscape-client and landscape/__init__.py)"
            )
        if shutil.which(python) is None:
            raise InputError(f"--client-src needs the system interpreter {python}, not found")
        env = {"PYTHONPATH": str(root), **_ROOT_ENV}
        return cls((python, str(script)), env, f"source tree {root}", root)

    def prepared(self, scratch: Path) -> ClientCommand:
        """This command, run from a link farm under ``scratch`` if the tree needs one.

        A tree copied by a tool that does not keep symlinks holds, where a link was, a
        small file with the link's target (the client's ``snap_http`` package is such a
        link). The farm mirrors the tree with symlinks and puts real links back there,
        without writing to the tree itself (it may be read-only).
        """
        if self.source is None:
            return self
        flattened = _flattened_links(self.source)
        if not flattened:
            return self
        farm = scratch / "client-tree"
        _link_farm(self.source, farm, flattened)
        argv = (self.argv[0], str(farm / "scripts" / "landscape-client"), *self.argv[2:])
        env = {**self.env, "PYTHONPATH": str(farm)}
        return ClientCommand(argv, env, f"{self.description} (via {farm})", self.source)

    @classmethod
    def from_command(cls, command: str) -> ClientCommand:
        """An installed client, e.g. ``landscape-client`` or ``/usr/bin/landscape-client``."""
        argv = shlex.split(command)
        if not argv or shutil.which(argv[0]) is None:
            raise InputError(f"--client-cmd {command!r}: program not found on PATH")
        return cls((shutil.which(argv[0]) or argv[0], *argv[1:]), dict(_ROOT_ENV), command)


#: Run every daemon as the invoking user (root) instead of dropping to a ``landscape``
#: account, so that each instance can keep its files in the run folder.
_ROOT_ENV = {"LANDSCAPE_CLIENT_USER": "root", "LANDSCAPE_CLIENT_BUILDING": "1"}


def _flattened_links(root: Path) -> dict[Path, str]:
    """Files under ``root`` that hold just a relative path to an existing file or folder."""
    found = {}
    for path in root.rglob("*"):
        if path.suffix or not path.is_file() or path.is_symlink() or path.stat().st_size > 256:
            continue
        try:
            target = path.read_text("utf-8").strip()
        except (UnicodeDecodeError, OSError):
            continue
        if target and "\n" not in target and not target.startswith("/"):
            with suppress(OSError, ValueError):
                if (path.parent / target).exists():
                    found[path.relative_to(root)] = target
    return found


def _link_farm(root: Path, farm: Path, flattened: Mapping[Path, str]) -> None:
    """Mirror ``root`` at ``farm``: real folders along the flattened links' paths, symlinks
    to the originals everywhere else, and the flattened links as real symlinks."""
    if farm.exists():
        shutil.rmtree(farm)
    mirrored = {parent for rel in flattened for parent in rel.parents if parent != Path(".")}
    for folder in sorted({Path("."), *mirrored}):
        (farm / folder).mkdir(parents=True, exist_ok=True)
        for entry in (root / folder).iterdir():
            rel = entry.relative_to(root)
            if rel in mirrored:
                continue
            link = farm / rel
            if rel in flattened:
                link.symlink_to((entry.parent / flattened[rel]).resolve())
            else:
                link.symlink_to(entry)


def find_client_source(explicit: str | Path | None, repo_root: Path) -> Path | None:
    """The client tree for live tests: an explicit one, the env variable, or the snapshot.

    Returns None when none is found; an explicit path that is not a tree raises.
    """
    for candidate in (explicit, os.environ.get(CLIENT_SRC_ENV)):
        if candidate:
            ClientCommand.from_source(candidate)  # raises with the reason
            return Path(candidate)
    snapshot = repo_root.parent / "shared" / "landscape-client"
    return snapshot if (snapshot / "scripts" / "landscape-client").is_file() else None
