"""``activitykit scenario``: the JSON Schema, file validation, and the effective scenario."""

from __future__ import annotations

import argparse
import sys

from ._options import add_set_option


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "scenario",
        help="scenario files: JSON Schema, validate, show with defaults",
        description=(
            "Work with scenario files (docs/scenarios.md): print the JSON Schema for editors, "
            "validate files, or show the effective scenario with every default filled in."
        ),
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    schema = actions.add_parser("schema", help="print the JSON Schema of scenario files")
    schema.add_argument("--indent", type=int, default=2, help="JSON indentation (default: 2)")
    schema.set_defaults(func=run_schema)
    validate = actions.add_parser("validate", help="check scenario files; exit 2 if any is bad")
    validate.add_argument("files", nargs="+", metavar="FILE")
    validate.add_argument("--quiet", "-q", action="store_true", help="print only errors")
    validate.set_defaults(func=run_validate)
    show = actions.add_parser(
        "show", help="print the effective scenario (YAML) with every default filled in"
    )
    show.add_argument("file", metavar="FILE")
    add_set_option(show, "--set fleet.groups.0.computers=500")
    show.set_defaults(func=run_show)


def run_schema(args: argparse.Namespace) -> int:
    import json

    from ..scenario import Scenario

    doc = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://activitykit.invalid/scenario.schema.json",
        **Scenario.model_json_schema(),
    }
    sys.stdout.write(json.dumps(doc, indent=args.indent) + "\n")
    return 0


def run_validate(args: argparse.Namespace) -> int:
    from ..errors import InputError
    from ..scenario import load_scenario

    bad = 0
    for name in args.files:
        try:
            load_scenario(name)
        except InputError as exc:
            bad += 1
            print(f"{name}: error\n{exc}", file=sys.stderr)
        except OSError as exc:
            bad += 1
            print(f"{name}: error: {exc.strerror}", file=sys.stderr)
        else:
            if not args.quiet:
                print(f"{name}: OK")
    return 2 if bad else 0


def run_show(args: argparse.Namespace) -> int:
    from ..scenario import dump_effective, load_scenario

    sys.stdout.write(dump_effective(load_scenario(args.file, args.overrides)))
    return 0
