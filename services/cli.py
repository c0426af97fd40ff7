"""The ``hinterland`` command: exercises, services, dispatcher triggers, contract documents."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import typer
from rich.console import Console

from simulations.cli import exercise

if TYPE_CHECKING:
    from contracts.envelope import Classification
    from services.client import HinterlandClient

app = typer.Typer(
    help="Hinterland: emergency military-civil logistics coordination.", no_args_is_help=True
)
schemas = typer.Typer(help="The published event contracts.", no_args_is_help=True)
bench = typer.Typer(help="Benchmarks.", no_args_is_help=True)
app.add_typer(exercise, name="exercise")  # simulations/cli.py
app.add_typer(schemas, name="schemas")
app.add_typer(bench, name="bench")
console = Console()

API = typer.Option("http://127.0.0.1:8080", envvar="HINTERLAND_API", help="The HTTP API.")


class Service(StrEnum):
    reserves = "reserves"
    transport = "transport"
    dispatch = "dispatch"


@app.command()
def serve(service: Service) -> None:
    """Run one service against the real Redis and PostgreSQL (settings: HINTERLAND_* env)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    asyncio.run(_serve(service))


async def _serve(service: Service) -> None:
    import signal

    from services.runtime.service import ServiceRuntime

    server = None
    standards = None
    runtime: ServiceRuntime
    if service is Service.dispatch:
        import uvicorn
        from pydantic import ValidationError

        from services.dispatch.bootstrap import create_runtime
        from services.gateway.api import build_api
        from services.gateway.settings import GatewaySettings

        try:
            settings = GatewaySettings()
        except ValidationError as exc:
            console.print(f"[red]cannot serve dispatch: {exc.errors()[0]['msg']}[/red]")
            raise typer.Exit(2) from exc
        runtime, _planner = create_runtime(settings)
        # The gateway (HTTP API + console) migrates its own tables in its lifespan.
        api = build_api(
            runtime.engine,
            runtime.redis,
            settings,
            runtime.stream("ingress.events"),
            exercise=_exercise_control(settings),
        )
        standards = _standards_bus(runtime, settings)
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
    if standards is not None:
        await standards.start()
    logging.getLogger("hinterland").info("%s ready", service.value)
    serving = asyncio.create_task(server.serve()) if server else None
    await stop.wait()
    if server and serving:
        server.should_exit = True
        await serving
    if standards is not None:
        await standards.stop()
    await runtime.stop()


def _standards_bus(runtime: Any, settings: Any) -> Any:
    """CAP and EDXL-RM documents XADDed on ``ingress.xml`` become contract events."""
    from services.gateway.partners import SqlThreadStore, network_snapshot
    from services.standards.bus import StandardsBus

    async def network() -> Any:
        async with runtime.sessions() as session:
            return await network_snapshot(session)

    return StandardsBus(
        settings.redis_url,
        network,
        SqlThreadStore(runtime.sessions),
        mode=settings.mode,
        namespace=settings.namespace,
        consumer=settings.consumer_name,
    )


def _exercise_control(settings: Any) -> Any:
    """An exercise-mode deployment with its own namespace and schema can run exercises."""
    if settings.mode != "exercise" or not settings.namespace or not settings.db_schema:
        return None
    from simulations.control import RunnerControl
    from simulations.exercise import Infrastructure

    infra = Infrastructure(
        settings.redis_url, settings.database_url, settings.namespace, settings.db_schema
    )
    return RunnerControl(infra)


TOKEN = typer.Option(
    None,
    envvar="HINTERLAND_TOKEN",
    help="Bearer token (default: the one `hinterland login` saved).",
    show_default=False,
)


def _token_file() -> Path:
    return Path(os.environ.get("HINTERLAND_TOKEN_FILE", "~/.config/hinterland/token")).expanduser()


@contextmanager
def _client(api: str, token: str | None) -> Iterator[HinterlandClient]:
    """A client with the given or saved token; API refusals end the command with their message."""
    from pydantic import ValidationError

    from services.client import ApiError, HinterlandClient

    saved = _token_file()
    if token is None and saved.exists():
        token = saved.read_text().strip() or None
    try:
        with HinterlandClient(api, token) as client:
            yield client
    except ApiError as exc:
        hint = " (run `hinterland login USER`)" if exc.status == 401 else ""
        console.print(f"[red]{exc.status or 'unreachable'}: {exc.message}{hint}[/red]")
        raise typer.Exit(1) from exc
    except ValidationError as exc:
        for err in exc.errors():
            console.print(f"[red]{'.'.join(map(str, err['loc']))}: {err['msg']}[/red]")
        raise typer.Exit(2) from exc


@app.command()
def login(
    username: str,
    password: str = typer.Option(..., prompt=True, hide_input=True),
    api: str = API,
) -> None:
    """Log in to the HTTP API and save the token for the other commands."""
    with _client(api, None) as client:
        issued = client.login(username, password)
    path = _token_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(issued.access_token)
    console.print(
        f"logged in as {issued.username} ({', '.join(issued.roles)}; cleared "
        f"{issued.clearance}); token saved to {path}, valid {issued.expires_in // 3600} h"
    )


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
    token: str | None = TOKEN,
) -> None:
    """Raise a need through the HTTP API."""
    from contracts.incidents import NeedRaised

    deadline = datetime.now(UTC) + timedelta(hours=within_h)
    with _client(api, token) as client:
        body = NeedRaised.model_validate(
            {
                "need_id": need_id,
                "node_id": node,
                "commodity": commodity,
                "quantity": quantity,
                "unit": "t",
                "priority": priority,
                "deadline": deadline,
            }
        )
        accepted = client.raise_need(body, cast("Classification", classification))
    console.print(accepted.model_dump())


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
    token: str | None = TOKEN,
) -> None:
    """Report a disruption through the HTTP API."""
    from contracts.incidents import DisruptionReported

    with _client(api, token) as client:
        body = DisruptionReported.model_validate(
            {
                "disruption_id": disruption_id,
                "kind": kind,
                "severity": severity,
                "observed_at": datetime.now(UTC),
                "links": link,
                "nodes": node,
                "depots": depot,
            }
        )
        accepted = client.report_disruption(body, cast("Classification", classification))
    console.print(accepted.model_dump())


@app.command()
def plan(api: str = API, token: str | None = TOKEN) -> None:
    """Show the current plan (what your clearance may see), what changed and its decision."""
    with _client(api, token) as client:
        view = client.current_plan()
    console.print_json(view.model_dump_json())


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
    "scenario",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
def bench_scenario(ctx: typer.Context) -> None:
    """National-scale and regional (G85 cut) planning: plan times, memory, share of the limit.

    Arguments go to services.bench.scenario: [--national] [--regional] [--multimodal]
    [--national-replan] [--scale S] [--budget S] [--workers N] [--solution-limit N]
    [--json OUT].
    """
    from services.bench.scenario import main

    raise typer.Exit(main(list(ctx.args)))


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


@bench.command(
    "compare",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
def bench_compare(ctx: typer.Context) -> None:
    """Side by side from bench routing CSVs: per solver, and OR-Tools against each other one.

    Arguments go to services.bench.compare: CSV... [--objective distance|hierarchical].
    """
    from services.bench.compare import main

    raise typer.Exit(main(list(ctx.args)))
