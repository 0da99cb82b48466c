"""``activitykit live``: run a scenario against real Landscape Clients."""

from __future__ import annotations

import argparse
import sys
from typing import Any

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
            "kit's job-handler processes (or yours, --job-handler), into the same server core "
            "and trace; faults.job_handler_crash.mtbf kills them on a seeded schedule. Every "
            "client and handler process is stopped at the end, on errors, on Ctrl-C and on "
            "SIGTERM. Only scripts and resynchronize "
            "requests are sent unless --allow-host-changes is given. Exit 0 conformant, 1 "
            "violations, 2 bad input or clients, handlers or broker that would not start."
        ),
    )
    add_client_args(p, clients_help="number of client processes (0: server activities only)")
    p.add_argument("--out", metavar="DIR", help="run directory (default: runs/<scenario>-live)")
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
        "--job-handler",
        metavar="CMD",
        help=(
            "your job-handler (docs/job-handler-protocol.md) instead of the kit's: started by "
            "/bin/sh -c CMD once per handler, with ACTIVITYKIT_AMQP_URL, ACTIVITYKIT_QUEUE, "
            "ACTIVITYKIT_HANDLER and ACTIVITYKIT_PREFETCH in its environment"
        ),
    )
    p.add_argument(
        "--amqp-queue",
        default="activitykit.live.jobs",
        metavar="NAME",
        help="job queue (purged first; default activitykit.live.jobs)",
    )
    p.add_argument("--quiet", "-q", action="store_true", help="no summary table")
    p.set_defaults(func=run)


def add_client_args(
    p: argparse.ArgumentParser, *, clients_help: str, clients_required: bool = True
) -> None:
    """SCENARIO, --clients, the client's source, --set and the server's address: the
    arguments ``live`` and ``calibrate`` share."""
    p.add_argument("scenario", metavar="SCENARIO", help="scenario file (YAML); times in seconds")
    p.add_argument("--clients", type=int, required=clients_required, metavar="N", help=clients_help)
    src = p.add_mutually_exclusive_group()
    src.add_argument(
        "--client-src",
        metavar="DIR",
        help="a Landscape Client source tree (run by /usr/bin/python3)",
    )
    src.add_argument(
        "--client-cmd", metavar="CMD", help="an installed client, e.g. landscape-client"
    )
    add_set_option(p, "--set duration=120")
    p.add_argument("--host", default="127.0.0.1", help="address to serve on (default 127.0.0.1)")
    p.add_argument("--message-port", type=int, default=0, metavar="PORT", help="0: pick a free one")
    p.add_argument("--ping-port", type=int, default=0, metavar="PORT", help="0: pick a free one")


def client_command(args: argparse.Namespace, *, minimum: int = 0) -> Any:
    """The ``ClientCommand`` the arguments name (None for a run of no clients); bad
    ``--clients`` or ports are input errors."""
    from ..errors import InputError
    from ..live.clients import ClientCommand

    if args.clients < minimum:
        raise InputError(f"--clients must be at least {minimum} (got {args.clients})")
    if args.clients and not (args.client_src or args.client_cmd):
        raise InputError(f"--clients {args.clients}: name the client: --client-src or --client-cmd")
    for name in ("message_port", "ping_port"):
        if not 0 <= getattr(args, name) <= 65535:
            raise InputError(f"--{name.replace('_', '-')} must be in 0..65535")
    if args.client_src:
        return ClientCommand.from_source(args.client_src)
    if args.client_cmd:
        return ClientCommand.from_command(args.client_cmd)
    return None


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..errors import InputError
    from ..live.run import LiveOptions, run_live
    from ..scenario import load_scenario
    from .run import summary_table

    command = client_command(args)
    if args.job_handler is not None and not (args.amqp_url or args.own_broker):
        raise InputError("--job-handler: a job-handler needs a broker: --amqp-url or --own-broker")
    if args.job_handlers is not None:
        if args.job_handlers < 1:
            raise InputError(f"--job-handlers must be at least 1 (got {args.job_handlers})")
        args.overrides.append(f"server.job_handlers={args.job_handlers}")
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
        job_handler=args.job_handler,
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
        print(
            f"\nwrote {result.out_dir}/ (trace, summary.json, protocol.jsonl, report, "
            "clients/*/log)"
        )
    if result.summary["live"]["interrupted"]:
        print(f"activitykit live: interrupted; what ran is in {result.out_dir}/", file=sys.stderr)
        return 130
    if not result.conformant:
        print(
            f"activitykit live: {result.summary['violations']['count']} violation(s); "
            f"see {result.out_dir / 'summary.json'}",
            file=sys.stderr,
        )
    return result.exit_code
