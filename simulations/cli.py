"""``hinterland exercise ...``: run, replay, what-if, Monte Carlo and after-action reports."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.markdown import Markdown
from rich.progress import Progress
from rich.table import Table

if TYPE_CHECKING:
    from simulations.clock import Clock

exercise = typer.Typer(help="Crisis exercises on the embedded bus.", no_args_is_help=True)
console = Console()

OUT = typer.Option(Path("out"), help="Run folders go under OUT/.")
WORKERS = typer.Option(os.cpu_count() or 1, help="Worker processes (default: the machine's cores).")


def _assignments(items: list[str], what: str) -> dict[str, Any]:
    from simulations.batch import parse_value

    out: dict[str, Any] = {}
    for item in items:
        key, eq, raw = item.partition("=")
        if not eq or not key:
            console.print(f"[red]{what}: expected key=value, got {item!r}[/red]")
            raise typer.Exit(2)
        out[key] = parse_value(raw)
    return out


async def _control_from_stdin(clock: Clock) -> None:
    """Read p(ause), r(esume), s(tep), q(uit) or a number (speed) from stdin, one per line."""
    loop = asyncio.get_running_loop()
    while True:
        raw = await loop.run_in_executor(None, sys.stdin.readline)
        if not raw:  # end of input: the exercise runs on by itself
            return
        line = raw.strip().lower()
        if not line:
            continue
        if line in ("p", "pause"):
            clock.pause()
        elif line in ("r", "resume"):
            clock.resume()
        elif line in ("s", "step"):
            clock.step()
        elif line in ("q", "quit", "stop"):
            clock.stop()
            return
        else:
            try:
                clock.resume(speed=float(line))
            except ValueError:
                console.print("commands: p(ause) r(esume) s(tep) q(uit) or a speed factor")
        status = clock.status
        console.print(f"clock {status.state} at {status.sim_time} (speed {status.speed or 'max'})")


@exercise.command("run")
def run(
    scenario: str = typer.Argument(..., help="Scenario name or YAML path."),
    out: Path = OUT,
    run_id: str | None = typer.Option(None, help="Run id (default: scenario and seed)."),
    seed: int | None = typer.Option(None, help="Seed for the scenario's random disruptions."),
    set_: list[str] = typer.Option([], "--set", help="Scenario parameter, key=value."),
    policy: list[str] = typer.Option([], help="Dispatch policy, key=value (solution_limit...)."),
    speed: float | None = typer.Option(
        None, help="N x real time (1 = real time); default as fast as possible."
    ),
    paused: bool = typer.Option(False, help="Start paused (then: s to step, r to resume)."),
    control: bool = typer.Option(
        False, help="Read p/r/s/q or a speed from stdin while the exercise runs."
    ),
    on_infra: bool = typer.Option(
        False,
        help="Against services running as processes (HINTERLAND_* settings: Redis, database, "
        "namespace, db_schema) instead of the embedded bus.",
    ),
) -> None:
    """Play a scenario through the three services (embedded by default) and report."""
    from simulations.aar import write_report
    from simulations.clock import Clock
    from simulations.exercise import markdown, run_exercise
    from simulations.scenario import ScenarioError, load_scenario

    logging.basicConfig(level=logging.ERROR)
    try:
        loaded = load_scenario(scenario, overrides=_assignments(set_, "--set"), seed=seed)
    except ScenarioError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    clock = Clock(speed, paused) if (speed or paused or control) else None
    infra = None
    if on_infra:
        from services.runtime.settings import ServiceSettings
        from simulations.exercise import Infrastructure

        env = ServiceSettings()
        try:
            infra = Infrastructure(env.redis_url, env.database_url, env.namespace, env.db_schema)
        except ValueError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from exc

    async def main() -> Any:
        watcher = asyncio.create_task(_control_from_stdin(clock)) if clock and control else None
        try:
            return await run_exercise(
                scenario,
                out,
                run_id or (f"{loaded.name}-seed{seed}" if seed is not None else None),
                step,
                policy=_assignments(policy, "--policy"),
                clock=clock,
                scenario=loaded,
                infra=infra,
            )
        finally:
            if watcher:
                watcher.cancel()

    with Progress(console=console, transient=True) as progress:
        task = progress.add_task(f"exercise {scenario}", total=None)

        def step(done: int, total: int, event: Any) -> None:
            progress.update(
                task,
                total=total,
                completed=done,
                description=f"{event.at:%d %H:%M} {event.event.type.split('.')[-2]}",
            )

        try:
            result = asyncio.run(main())
        except ValueError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from exc
    html = write_report(result.run_dir)
    console.print(Markdown(markdown(result.report)))
    console.print(
        f"wall time {result.report['wall_time_s']} s; run folder {result.run_dir}/ "
        f"(events.jsonl recording, report.json, report.md, {html.name})"
    )


@exercise.command("report")
def report(run: Path = typer.Argument(..., help="A run folder (holds events.jsonl).")) -> None:
    """Write the after-action report (report.html, aar.json) of a run folder."""
    from simulations.aar import AarInputError, write_report

    try:
        path = write_report(run)
    except AarInputError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    console.print(f"after-action report: {path}")


@exercise.command("replay")
def replay(
    recording: Path = typer.Argument(..., help="A recording (a run folder's events.jsonl)."),
    patch: Path | None = typer.Option(None, help="YAML: changed policy, dropped/shifted events."),
    out: Path = OUT,
    label: str = typer.Option("replay", help="The new run goes to OUT/<run id>-<label>/."),
) -> None:
    """Replay a recording through the pipeline; compare plans, or KPIs when patched."""
    from simulations.aar import write_report
    from simulations.recording import RecordingError
    from simulations.replay import diff_table, load_patch
    from simulations.replay import replay as do_replay

    logging.basicConfig(level=logging.ERROR)
    if recording.is_dir():
        recording = recording / "events.jsonl"
    try:
        changes = load_patch(patch) if patch else None
        with console.status(f"replaying {recording}"):
            outcome = asyncio.run(do_replay(recording, out, changes, label))
    except RecordingError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    write_report(outcome.result.run_dir)
    if outcome.stopped:
        console.print(f"[yellow]{outcome.stopped}[/yellow]")
    same = sum(a == b for a, b in zip(outcome.recorded, outcome.replayed, strict=False))
    console.print(
        f"plans: {len(outcome.recorded)} recorded, {len(outcome.replayed)} replayed, "
        f"{same} identical in order (plan hash)"
    )
    table = Table("KPI", "recorded", "replayed", "change")
    for row in diff_table(outcome.kpis):
        table.add_row(*row)
    console.print(table)
    console.print(f"replay run folder: {outcome.result.run_dir}/")
    if patch is None and not outcome.identical and not outcome.stopped:
        console.print("[red]the unchanged replay did not reproduce every plan[/red]")
        raise typer.Exit(1)


def _batch(
    scenario: str,
    variants: list[tuple[str, dict[str, Any], dict[str, Any]]],
    seeds: list[int],
    out: Path,
    workers: int,
) -> None:
    from simulations.batch import Job, run_batch, write_batch_report

    logging.basicConfig(level=logging.ERROR)
    jobs = [Job(name, scenario, s, o, p) for name, o, p in variants for s in seeds]
    started = time.perf_counter()
    with Progress(console=console) as progress:
        task = progress.add_task(f"{len(jobs)} runs on {workers} workers", total=len(jobs))
        results = run_batch(
            jobs, out, workers, lambda done, _n, _r: progress.update(task, completed=done)
        )
    wall = time.perf_counter() - started
    path = write_batch_report(out, results, wall)
    from simulations.batch import distribution

    dist = distribution([r for r in results if not r.error])
    for variant, kpis in dist.items():
        table = Table("KPI", "runs", "p10", "median", "p90", title=f"variant {variant}")
        for name, d in kpis.items():
            table.add_row(
                name, str(d["runs"]), f"{d['p10']:,.4g}", f"{d['median']:,.4g}", f"{d['p90']:,.4g}"
            )
        console.print(table)
    for r in results:
        if r.error:
            console.print(f"[red]{r.job.variant} seed {r.job.seed}: {r.error}[/red]")
    console.print(f"{len(jobs)} runs in {wall:.1f} s on {workers} workers; {path}")
    if any(r.error for r in results):
        raise typer.Exit(1)


@exercise.command("whatif")
def whatif(
    scenario: str = typer.Argument(..., help="Scenario name or YAML path."),
    variant: list[str] = typer.Option(
        [], help="name:param=value,policy.solution_limit=100 (repeatable); baseline is added."
    ),
    seeds: int = typer.Option(1, help="Seeds per variant."),
    first_seed: int = typer.Option(1),
    out: Path = typer.Option(Path("out/whatif")),
    workers: int = WORKERS,
) -> None:
    """Run K variants of a scenario (N seeds each) in parallel and compare their KPIs."""
    from simulations.batch import parse_variant

    try:
        parsed: list[tuple[str, dict[str, Any], dict[str, Any]]] = [("baseline", {}, {})]
        parsed += [parse_variant(v) for v in variant]
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    _batch(scenario, parsed, list(range(first_seed, first_seed + seeds)), out, workers)


@exercise.command("montecarlo")
def montecarlo(
    scenario: str = typer.Argument(..., help="Scenario name or YAML path."),
    seeds: int = typer.Option(100, help="Number of seeds."),
    first_seed: int = typer.Option(1),
    out: Path = typer.Option(Path("out/montecarlo")),
    workers: int = WORKERS,
) -> None:
    """Run a scenario with N seeds of its random disruptions; KPI distributions."""
    _batch(scenario, [("mc", {}, {})], list(range(first_seed, first_seed + seeds)), out, workers)
