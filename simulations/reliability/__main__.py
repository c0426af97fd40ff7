"""``python -m simulations.reliability [--seeds N] [--events E] [--quick] [--seed S]``.

Runs N seeded fault runs (each: its own redis-server with AOF, a fresh database, the three
services as processes, E ingress events, every service killed and restarted, Redis killed
and restarted, PostgreSQL refusing connections, a service paused past the reclaim idle
time), then the load ramp, and prints one table. ``--seed S`` replays one fault run and
prints every problem it found. The exit status is 1 when any run found a problem.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from simulations.reliability.load import LoadConfig, LoadResult, dumps, run_load
from simulations.reliability.report import render_table
from simulations.reliability.runner import RunConfig, RunResult, run_seed


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m simulations.reliability", description=__doc__)
    p.add_argument("--seeds", type=int, default=20, help="fault runs (seeds first..first+N-1)")
    p.add_argument("--first-seed", type=int, default=1)
    p.add_argument("--seed", type=int, default=None, help="replay this one seed")
    p.add_argument("--events", type=int, default=10_000, help="ingress events per fault run")
    p.add_argument("--rate", type=float, default=70.0, help="ingress events/s during faults")
    p.add_argument("--reclaim-idle-ms", type=int, default=3000)
    p.add_argument("--quick", action="store_true", help="1 seed, 1,500 events, short ramp")
    p.add_argument("--no-load", action="store_true", help="skip the load ramp")
    p.add_argument("--no-faults", action="store_true", help="skip the fault runs")
    p.add_argument("--keep", action="store_true", help="keep every run's logs and database")
    p.add_argument("--json", type=Path, default=None, help="also write all figures here")
    args = p.parse_args(argv)

    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    events, kills = args.events, 2
    load_cfg = LoadConfig(keep=args.keep)
    if args.quick:
        seeds, events, kills = [args.first_seed], 1500, 1
        load_cfg = LoadConfig(
            rates=(50, 100, 200, 400),
            step_s=4,
            phase_s=10,
            raw_entries=5000,
            alone_events=1000,
            keep=args.keep,
        )
    if args.seed is not None:
        seeds = [args.seed]

    runs: list[RunResult] = []
    if not args.no_faults:
        for seed in seeds:
            result = run_seed(
                RunConfig(
                    seed=seed,
                    events=events,
                    rate=args.rate,
                    reclaim_idle_ms=args.reclaim_idle_ms,
                    kills_per_service=kills,
                    keep=args.keep,
                )
            )
            runs.append(result)
            status = "ok" if result.ok else f"FAILED ({len(result.problems())} problems)"
            print(f"seed {seed}: {status} in {result.wall_s:.0f} s", file=sys.stderr, flush=True)
            if args.seed is not None:
                print(result.report.summary(limit=200), file=sys.stderr)
    load: LoadResult | None = None
    if not args.no_load and args.seed is None:
        load = run_load(load_cfg)

    print(render_table(runs, load, args.reclaim_idle_ms, events))
    failing = [r for r in runs if not r.ok]
    for r in failing:
        first = r.problems()[:3]
        print(f"\nseed {r.seed} FAILED: " + "; ".join(p[:300] for p in first))
        print(
            f"  replay: python -m simulations.reliability --seed {r.seed} --events {events} "
            f"--rate {args.rate:g}"
        )
        if r.workdir is not None:
            print(f"  logs: {r.workdir}")
    if args.json is not None:
        args.json.write_text(
            json.dumps(
                {
                    "runs": [
                        {
                            "seed": r.seed,
                            "ok": r.ok,
                            "events": r.events,
                            "problems": r.problems(),
                            "faults": [
                                {
                                    "kind": f.fault.kind,
                                    "target": f.fault.target,
                                    "recovery_s": f.recovery_s,
                                }
                                for f in r.faults
                            ],
                            "counts": dict(r.report.counts),
                        }
                        for r in runs
                    ],
                    "load": json.loads(dumps(load)) if load else None,
                },
                indent=1,
            )
        )
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main())
