"""``activitykit calibrate``: the same scenario live (real clients) and simulated, compared."""

from __future__ import annotations

import argparse
import json
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "calibrate",
        help="run a scenario live and simulated at the same settings; compare the two",
        description=(
            "Run SCENARIO against N real Landscape Clients (as 'activitykit live' does, into "
            "DIR/live), then simulate the live run's effective scenario (same intervals, "
            "workload and fleet size) with --seeds seeds (the scenario's seed first) into "
            "DIR/sim/seed-<seed>, and print side by side the created -> In Progress and In "
            "Progress -> final latency distributions (quantiles, means with 95%% intervals, a "
            "two-sample KS test) and the exchanges and pings per computer. Writes "
            "DIR/calibration.json, DIR/calibration.txt and the figure DIR/calibration.png. "
            "--from-live RUN compares an earlier live run instead of starting clients. Exit 0 "
            "when the simulator agrees (KS p > 0.01 on both phases, counts within 5%%), 1 "
            "when it does not, 2 on bad input or clients that would not start."
        ),
    )
    from .live import add_client_args

    add_client_args(
        p,
        clients_help="number of real clients (at least 1; not with --from-live)",
        clients_required=False,
    )
    p.add_argument(
        "--out", metavar="DIR", help="output directory (default runs/<scenario>-calibration)"
    )
    p.add_argument(
        "--seeds",
        type=int,
        default=5,
        metavar="K",
        help="simulated runs, seeds from the scenario's upward (default 5)",
    )
    p.add_argument(
        "--from-live",
        metavar="RUN",
        help="compare this live run directory (activitykit live) instead of running clients",
    )
    p.add_argument("--quiet", "-q", action="store_true", help="no table on stdout")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..errors import InputError
    from ..reports import calibration as cal
    from ..reports.figures import figure_png
    from ..scenario import load_scenario
    from .live import client_command

    if args.seeds < 1:
        raise InputError(f"--seeds must be at least 1 (got {args.seeds})")
    out = Path(args.out) if args.out else Path("runs") / f"{Path(args.scenario).stem}-calibration"
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: exists and is not a directory; name a directory")
    if args.from_live:
        live_dir = Path(args.from_live)
    else:
        from ..live.run import LiveOptions, run_live

        if args.clients is None:
            raise InputError("--clients N: how many real clients (or --from-live RUN)")
        command = client_command(args, minimum=1)
        scenario = load_scenario(args.scenario, args.overrides)
        live_dir = out / "live"
        options = LiveOptions(
            clients=args.clients,
            command=command,
            out_dir=live_dir,
            host=args.host,
            message_port=args.message_port,
            ping_port=args.ping_port,
        )
        result = run_live(scenario, options)
        live_dir = result.out_dir
        if result.summary["live"]["interrupted"]:
            print(
                f"activitykit calibrate: interrupted; the live run is in {live_dir}/",
                file=sys.stderr,
            )
            return 130
        if not result.conformant:
            print(
                f"activitykit calibrate: the live run has "
                f"{result.summary['violations']['count']} violation(s) (see "
                f"{live_dir / 'summary.json'}); comparing anyway",
                file=sys.stderr,
            )
    live = cal.live_side(live_dir)
    effective = live_dir / "scenario.effective.yaml"
    seed = load_scenario(effective).seed
    client = cal.calibrated_client(live_dir)
    sim = cal.sim_side(effective, [seed + i for i in range(args.seeds)], out / "sim", client=client)
    comparison = cal.compare(live, sim)
    comparison["sim_client"] = client  # the live run's network, as the simulated runs had it
    comparison["real_client"] = cal.real_client_measurements(live_dir)
    out.mkdir(parents=True, exist_ok=True)
    text = cal.comparison_text(comparison)

    (out / "calibration.json").write_text(json.dumps(comparison, indent=2) + "\n", "utf-8")
    (out / "calibration.txt").write_text(text, "utf-8")
    (out / "calibration.png").write_bytes(figure_png(cal.calibration_figure(live, sim)))
    if not args.quiet:
        sys.stdout.write(text)
        print(f"\nwrote {out}/calibration.json, calibration.txt, calibration.png")
    return 0 if comparison["all_agree"] else 1
