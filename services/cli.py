"""The ``hinterland`` command: exercises, services, dispatcher triggers, contract documents."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import httpx
import typer
from rich.console import Console
from rich.markdown import Markdown
from rich.progress import Progress

app = typer.Typer(
    help="Hinterland: emergency military-civil logistics coordination.", no_args_is_help=True
)
exercise = typer.Typer(help="Crisis exercises on the embedded bus.", no_args_is_help=True)
schemas = typer.Typer(help="The published event contracts.", no_args_is_help=True)
bench = typer.Typer(help="Benchmarks.", no_args_is_help=True)
app.add_typer(exercise, name="exercise")
app.add_typer(schemas, name="schemas")
app.add_typer(bench, name="bench")
console = Console()

API = typer.Option("http://127.0.0.1:8080", envvar="HINTERLAND_API", help="Dispatch HTTP API.")


class Service(StrEnum):
    reserves = "reserves"
    transport = "transport"
    dispatch = "dispatch"


@exercise.command("run")
def exercise_run(
    scenario: str = typer.Argument(..., help="Scenario name or YAML path."),
    out: Path = typer.Option(Path("out"), help="Reports go to OUT/<run id>/."),
    run_id: str | None = typer.Option(None, help="Run id (default: scenario and seed)."),
) -> None:
    """Play a scenario through the three services on the embedded bus and report."""
    from simulations.exercise import markdown, run_exercise
    from simulations.scenario import ScenarioError

    logging.basicConfig(level=logging.ERROR)
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
            result = asyncio.run(run_exercise(scenario, out, run_id, step))
        except ScenarioError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from exc
    console.print(Markdown(markdown(result.report)))
    console.print(
        f"wall time {result.report['wall_time_s']} s; reports in {result.run_dir}/ "
        "(report.json, report.md, events.jsonl)"
    )


@app.command()
def serve(service: Service) -> None:
    """Run one service against the real Redis and PostgreSQL (settings: HINTERLAND_* env)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    asyncio.run(_serve(service))


async def _serve(service: Service) -> None:
    import signal

    from services.runtime.service import ServiceRuntime

    server = None
    runtime: ServiceRuntime
    if service is Service.dispatch:
        import uvicorn

        from services.dispatch.bootstrap import create_runtime
        from services.dispatch.http import build_api
        from services.dispatch.settings import DispatchSettings

        settings = DispatchSettings()
        runtime, _planner = create_runtime(settings)
        api = build_api(
            runtime.sessions, runtime.redis, runtime.stream("ingress.events"), settings.mode
        )
        server = uvicorn.Server(
            uvicorn.Config(
                api, host=settings.http_host, port=settings.http_port, log_level="warning"
            )
        )
    elif service is Service.reserves:
        from services.reserves.bootstrap import create_runtime as reserves_runtime

        runtime = reserves_runtime()
    else:
        from services.transport.bootstrap import create_runtime as transport_runtime

        runtime = transport_runtime()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await runtime.start()
    logging.getLogger("hinterland").info("%s ready", service.value)
    serving = asyncio.create_task(server.serve()) if server else None
    await stop.wait()
    if server and serving:
        server.should_exit = True
        await serving
    await runtime.stop()


def _post(api: str, path: str, body: dict[str, Any], classification: str) -> None:
    try:
        r = httpx.post(
            f"{api}{path}", json=body, params={"classification": classification}, timeout=10
        )
    except httpx.HTTPError as exc:
        console.print(f"[red]cannot reach {api}: {exc}[/red]")
        raise typer.Exit(1) from exc
    if r.status_code >= 400:
        console.print(f"[red]{r.status_code}: {r.text}[/red]")
        raise typer.Exit(1)
    console.print(r.json())


@app.command()
def need(
    need_id: str,
    node: str,
    commodity: str,
    quantity: float = typer.Argument(..., help="Tonnes."),
    priority: str = typer.Option("life_saving"),
    within_h: float = typer.Option(12.0, help="Deadline, hours from now."),
    classification: str = typer.Option("public"),
    api: str = API,
) -> None:
    """Raise a need through the dispatch HTTP API."""
    deadline = (datetime.now(UTC) + timedelta(hours=within_h)).isoformat()
    _post(
        api,
        "/needs",
        {
            "need_id": need_id,
            "node_id": node,
            "commodity": commodity,
            "quantity": quantity,
            "unit": "t",
            "priority": priority,
            "deadline": deadline,
        },
        classification,
    )


@app.command()
def disrupt(
    disruption_id: str,
    kind: str = typer.Option("link_cut"),
    link: list[str] = typer.Option([], help="Link id (repeatable)."),
    node: list[str] = typer.Option([], help="Node id (repeatable)."),
    depot: list[str] = typer.Option([], help="Depot id (repeatable)."),
    severity: int = typer.Option(3),
    classification: str = typer.Option("public"),
    api: str = API,
) -> None:
    """Report a disruption through the dispatch HTTP API."""
    _post(
        api,
        "/disruptions",
        {
            "disruption_id": disruption_id,
            "kind": kind,
            "severity": severity,
            "observed_at": datetime.now(UTC).isoformat(),
            "links": link,
            "nodes": node,
            "depots": depot,
        },
        classification,
    )


@app.command()
def plan(api: str = API) -> None:
    """Show the current plan."""
    r = httpx.get(f"{api}/plan", timeout=10)
    console.print_json(r.text)


@schemas.command("export")
def schemas_export(folder: Path = typer.Argument(Path("contracts/schemas"))) -> None:
    """Write one JSON Schema per event type and version."""
    from contracts.schema_export import export

    for path in export(folder):
        console.print(str(path))


@app.command()
def asyncapi(out: Path = typer.Option(Path("contracts/asyncapi.json"))) -> None:
    """Write the AsyncAPI document generated from the three services' FastStream apps."""
    from services.asyncapi import asyncapi_document

    out.write_text(json.dumps(asyncapi_document(), indent=2, sort_keys=True) + "\n")
    console.print(str(out))


@bench.command(
    "routing",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
def bench_routing(ctx: typer.Context) -> None:
    """Solve VRPLIB/Solomon/Homberger/Li&Lim instances with the routing core; table and CSV.

    Arguments go to the runner: PATH|SET|NAME... [--budget S] [--csv OUT.csv] (see --help).
    """
    from services.bench.runner import main

    raise typer.Exit(main(list(ctx.args)))
