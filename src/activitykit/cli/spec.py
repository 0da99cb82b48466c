"""``activitykit spec``: print the reference state machines."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

FORMATS = ("table", "json", "mermaid", "dot", "png")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "spec",
        help="print the reference state machines",
        description=(
            "Print the client and server activity state machines: every allowed move and what "
            "triggers it (docs/spec.md explains the model)."
        ),
    )
    p.add_argument(
        "--format", choices=FORMATS, default="table", help="output format (default: table)"
    )
    p.add_argument("--kind", choices=("client", "server", "both"), default="both")
    p.add_argument("--profile", choices=("result-wins", "cancel-sticky"), default="result-wins")
    p.add_argument(
        "-o", "--output", metavar="FILE", help="write to FILE instead of stdout (required for png)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import InputError
    from ..model import Kind, parse_profile
    from ..model import render as r

    kinds = [Kind.CLIENT, Kind.SERVER] if args.kind == "both" else [Kind(args.kind)]
    ds = r.diagrams(kinds, parse_profile(args.profile))
    if args.format == "png":
        if not args.output:
            raise InputError("--format png needs -o FILE (a PNG cannot go to a terminal)")
        print(f"wrote {r.render_png(ds, args.output)}", file=sys.stderr)
        return 0
    text = {
        "table": r.render_table,
        "json": lambda d: r.render_json(d) + "\n",
        "mermaid": r.render_mermaid,
        "dot": r.render_dot,
    }[args.format](ds)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
