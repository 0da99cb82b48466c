"""What the stateful run exercised: model transitions, rule causes, commands, menu draws."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...model import Kind, State, machine
from ..cases import Step

__all__ = ["Coverage"]


@dataclass
class Coverage:
    """What the stateful run exercised, as Hypothesis's statistics report what it drew.

    ``transitions`` counts the reference's moves by (kind, from, to) and ``causes`` the
    rule that made each (its ``cause``: exchange, consume, result, finish, due, released,
    approve, block, cancel, dependency); ``commands`` counts each command by its options
    and the reference's status; ``menu`` counts the menu entries and episodes drawn.
    """

    profile: str
    transitions: dict[tuple[str, str, str], int] = field(default_factory=dict)
    causes: dict[str, int] = field(default_factory=dict)
    commands: dict[str, int] = field(default_factory=dict)
    menu: dict[str, int] = field(default_factory=dict)

    def allowed(self) -> list[tuple[str, str, str]]:
        """Every move the model allows under this profile, by kind."""
        out = []
        for kind in Kind:
            for src, dsts in machine(kind, self.profile).transitions.items():
                out += [
                    (kind.value, src.value, d.value) for d in sorted(dsts, key=list(State).index)
                ]
        return out

    def missing(self) -> list[tuple[str, str, str]]:
        return [t for t in self.allowed() if t not in self.transitions]

    def see(self, step: Step, reply: dict[str, Any], kinds: dict[str, str]) -> None:
        self.commands[_combination(step, reply)] = (
            self.commands.get(_combination(step, reply), 0) + 1
        )
        for ev in reply.get("events", []):
            if ev.get("event") == "transition":
                key = (kinds.get(ev["activity"], "?"), ev["from"], ev["to"])
                self.transitions[key] = self.transitions.get(key, 0) + 1
                cause = str(ev.get("cause"))
                self.causes[cause] = self.causes.get(cause, 0) + 1

    def as_dict(self) -> dict[str, Any]:
        allowed = self.allowed()
        return {
            "profile": self.profile,
            "transitions_covered": len(allowed) - len(self.missing()),
            "transitions_allowed": len(allowed),
            "transitions": {" ".join(k): self.transitions.get(k, 0) for k in allowed},
            "missing": [" ".join(k) for k in self.missing()],
            "causes": dict(sorted(self.causes.items())),
            "commands": dict(sorted(self.commands.items())),
            "menu": dict(sorted(self.menu.items())),
        }

    def render(self) -> list[str]:
        """The coverage table of the text report."""
        allowed = self.allowed()
        lines = [
            f"stateful coverage ({self.profile}): {len(allowed) - len(self.missing())}/"
            f"{len(allowed)} model transitions"
        ]
        for k in allowed:
            lines.append(f"  {self.transitions.get(k, 0):>6}  {k[0]:<6} {k[1]} -> {k[2]}")
        lines.append(
            "  rules (cause of each move): "
            + ", ".join(f"{c} {n}" for c, n in sorted(self.causes.items()))
        )
        lines.append(f"  command/option combinations: {len(self.commands)}")
        for c, n in sorted(self.commands.items()):
            lines.append(f"  {n:>6}  {c}")
        lines.append("  menu: " + ", ".join(f"{m} {n}" for m, n in sorted(self.menu.items())))
        return lines


def _combination(step: Step, reply: dict[str, Any]) -> str:
    """A step's command with the options that select different rules, and its status."""
    cmd = step.get("cmd", "?")
    parts = [cmd]
    if cmd == "create":
        parts += [step.get("kind", "?"), step.get("state", "?")]
        parts += [k for k in ("depends_on", "progress_of", "release") if k in step]
        if (
            isinstance(step.get("deliver_after"), float)
            and not float(step["deliver_after"]).is_integer()
        ):
            parts.append("fractional")
    elif cmd == "exchange":
        n = len(reply.get("delivered", []))
        parts.append("delivers>100" if n > 100 else f"delivers {min(n, 2)}{'+' if n > 2 else ''}")
        if reply.get("results"):
            parts.append("with results")
    elif cmd == "consume":
        attempts = [e.get("attempt", 1) for e in reply.get("events", []) if e["event"] == "consume"]
        parts.append(
            f"attempt {min(max(attempts), 3)}{'+' if max(attempts) >= 3 else ''}"
            if attempts
            else "nothing"
        )
    return " ".join(str(p) for p in parts) + f" -> {reply.get('status')}"
