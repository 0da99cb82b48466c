"""``activitykit live``: run a scenario against real Landscape Clients."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "live",
        help="run a scenario against real Landscape Clients; write trace, summary and report",
        description=(
            "Start an emulated Landscape server on 127.0.0.1 and N real Landscape Client "
            "processes, run SCENARIO's workload through them in real seconds (every state "
            "change checked as it happens) and write DIR: the trace, scenario.effective.yaml, "
            "protocol.jsonl, summary.json (with the clients' unexpected behaviours as "
            "findings), report.html and each client's logs. Every client process is stopped at "
            "the end, on errors, on Ctrl-C and on SIGTERM. Only scripts and resynchronize "
            "requests are sent unless --allow-host-changes is given. Exit 0 conformant, 1 "
            "violations, 2 bad input or clients that would not start."
        ),
    )
    p.add_argument("scenario", metavar="SCENARIO", help="scenario file (YAML); times in seconds")
    p.add_argument(
        "--clients", type=int, required=True, metavar="N", help="number of client processes"
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--client-src",
        metavar="DIR",
        help="a Landscape Client source tree (run by /usr/bin/python3)",
    )
    src.add_argument(
        "--client-cmd", metavar="CMD", help="an installed client, e.g. landscape-client"
    )
    p.add_argument("--out", metavar="DIR", help="run directory (default: runs/<scenario>-live)")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a setting, e.g. --set duration=120",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to serve on (default 127.0.0.1)")
    p.add_argument("--message-port", type=int, default=0, metavar="PORT", help="0: pick a free one")
    p.add_argument("--ping-port", type=int, default=0, metavar="PORT", help="0: pick a free one")
    p.add_argument(
        "--allow-host-changes",
        action="store_true",
        help=(
            "also send activities that change the clients' host (restart, shutdown, packages, "
            "users, groups, snaps, Pro): only for clients in disposable machines"
        ),
    )
    p.add_argument("--quiet", "-q", action="store_true", help="no summary table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..errors import InputError
    from ..live.clients import ClientCommand
    from ..live.run import LiveOptions, run_live
    from ..runner import summary_table
    from ..scenario import load_scenario

    if args.clients < 1:
        raise InputError(f"--clients must be at least 1 (got {args.clients})")
    for name in ("message_port", "ping_port"):
        if not 0 <= getattr(args, name) <= 65535:
            raise InputError(f"--{name.replace('_', '-')} must be in 0..65535")
    command = (
        ClientCommand.from_source(args.client_src)
        if args.client_src
        else ClientCommand.from_command(args.client_cmd)
    )
    scenario = load_scenario(args.scenario, args.overrides)
    out = Path(args.out) if args.out else Path("runs") / f"{Path(args.scenario).stem}-live"
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: exists and is not a directory; name a directory")
    options = LiveOptions(
        clients=args.clients,
        command=command,
        out_dir=out,
        allow_host_changes=args.allow_host_changes,
        host=args.host,
        message_port=args.message_port,
        ping_port=args.ping_port,
    )
    result = run_live(scenario, options)
    if not args.quiet:
        sys.stdout.write(summary_table(result.summary))
        for item in result.summary["live"]["findings"]["items"] or ["none"]:
            print(f"finding: {item}")
        print(f"\nwrote {out}/ (trace, summary.json, protocol.jsonl, report, clients/*/log)")
    if result.summary["live"]["interrupted"]:
        print(f"activitykit live: interrupted; what ran is in {out}/", file=sys.stderr)
        return 130
    if not result.conformant:
        print(
            f"activitykit live: {result.summary['violations']['count']} violation(s); "
            f"see {out / 'summary.json'}",
            file=sys.stderr,
        )
    return result.exit_code
