"""``activitykit live``: run a scenario against real Landscape Clients."""

from __future__ import annotations

import argparse
import sys

from ._options import add_set_option


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "live",
        help="run a scenario against real Landscape Clients; write trace, summary and report",
        description=(
            "Start an emulated Landscape server on 127.0.0.1 and N real Landscape Client "
            "processes, run SCENARIO's workload through them in real seconds (every state "
            "change checked as it happens) and write DIR: the trace, scenario.effective.yaml, "
            "protocol.jsonl, summary.json (with the clients' unexpected behaviours as "
            "findings), report.html and each client's logs. Server activities of the workload "
            "go through RabbitMQ (--amqp-url URL, or --own-broker for a private one) to the "
            "kit's job-handler processes, into the same server core and trace. Every client "
            "and handler process is stopped at "
            "the end, on errors, on Ctrl-C and on SIGTERM. Only scripts and resynchronize "
            "requests are sent unless --allow-host-changes is given. Exit 0 conformant, 1 "
            "violations, 2 bad input or clients, handlers or broker that would not start."
        ),
    )
    p.add_argument("scenario", metavar="SCENARIO", help="scenario file (YAML); times in seconds")
    p.add_argument(
        "--clients",
        type=int,
        required=True,
        metavar="N",
        help="number of client processes (0: server activities only)",
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument(
        "--client-src",
        metavar="DIR",
        help="a Landscape Client source tree (run by /usr/bin/python3)",
    )
    src.add_argument(
        "--client-cmd", metavar="CMD", help="an installed client, e.g. landscape-client"
    )
    p.add_argument("--out", metavar="DIR", help="run directory (default: runs/<scenario>-live)")
    add_set_option(p, "--set duration=120")
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
    broker = p.add_mutually_exclusive_group()
    broker.add_argument(
        "--amqp-url",
        metavar="URL",
        help="RabbitMQ broker for the server activities, e.g. amqp://guest:guest@127.0.0.1/%%2F",
    )
    broker.add_argument(
        "--own-broker",
        action="store_true",
        help="start a private RabbitMQ broker on 127.0.0.1 for the run and stop it after",
    )
    p.add_argument(
        "--job-handlers",
        type=int,
        metavar="K",
        help="number of job-handler processes (default: the scenario's server.job_handlers)",
    )
    p.add_argument(
        "--amqp-queue",
        default="activitykit.live.jobs",
        metavar="NAME",
        help="job queue (purged first; default activitykit.live.jobs)",
    )
    p.add_argument("--quiet", "-q", action="store_true", help="no summary table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..errors import InputError
    from ..live.clients import ClientCommand
    from ..live.run import LiveOptions, run_live
    from ..scenario import load_scenario
    from .run import summary_table

    if args.clients < 0:
        raise InputError(f"--clients must be at least 0 (got {args.clients})")
    if args.clients and not (args.client_src or args.client_cmd):
        raise InputError(f"--clients {args.clients}: name the client: --client-src or --client-cmd")
    if args.job_handlers is not None:
        if args.job_handlers < 1:
            raise InputError(f"--job-handlers must be at least 1 (got {args.job_handlers})")
        args.overrides.append(f"server.job_handlers={args.job_handlers}")
    for name in ("message_port", "ping_port"):
        if not 0 <= getattr(args, name) <= 65535:
            raise InputError(f"--{name.replace('_', '-')} must be in 0..65535")
    command = (
        ClientCommand.from_source(args.client_src)
        if args.client_src
        else ClientCommand.from_command(args.client_cmd)
        if args.client_cmd
        else None
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
        amqp_url=args.amqp_url,
        own_broker=args.own_broker,
        amqp_queue=args.amqp_queue,
    )
    result = run_live(scenario, options)
    if not args.quiet:
        sys.stdout.write(summary_table(result.summary))
        for item in result.summary["live"]["findings"]["items"] or ["none"]:
            print(f"finding: {item}")
        amqp = result.summary["live"].get("amqp")
        if amqp:
            print(
                f"server activities: {amqp['published']} published, {amqp['consumes']} "
                f"consumed ({amqp['redelivered']} redelivered), {amqp['acks']} acked by "
                f"{amqp['job_handlers']} job-handler(s)"
            )
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
