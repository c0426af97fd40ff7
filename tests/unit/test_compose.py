"""compose.yaml names only services the CLI can serve, starts them in order, needs secrets."""

import re
from pathlib import Path

import yaml

from services.cli import Service

COMPOSE = yaml.safe_load((Path(__file__).parents[2] / "compose.yaml").read_text())


def test_every_application_service_in_compose_is_a_hinterland_serve_target() -> None:
    apps = {n: s for n, s in COMPOSE["services"].items() if n not in {"redis", "postgres"}}
    assert set(apps) == {s.value for s in Service}
    for name, svc in apps.items():
        assert svc["command"] == ["serve", name]


def test_application_services_wait_for_healthy_redis_and_postgres() -> None:
    for name in ("reserves", "transport", "dispatch"):
        deps = COMPOSE["services"][name]["depends_on"]
        assert deps["redis"]["condition"] == "service_healthy"
        assert deps["postgres"]["condition"] == "service_healthy"
    assert "healthcheck" in COMPOSE["services"]["redis"]
    assert "healthcheck" in COMPOSE["services"]["postgres"]


def test_redis_keeps_an_append_only_file_and_no_secret_has_a_default() -> None:
    text = (Path(__file__).parents[2] / "compose.yaml").read_text()
    assert "--appendonly" in COMPOSE["services"]["redis"]["command"]
    variables = re.findall(r"\$\{([^}]*)\}", text)
    assert variables
    for var in variables:  # every one must be supplied: ${X:?message}, never ${X:-default}
        assert re.fullmatch(r"[A-Z_]+:\?.+", var), var


def test_each_service_has_its_own_redis_user_and_database_role() -> None:
    for name in ("reserves", "transport", "dispatch"):
        env = COMPOSE["services"][name]["environment"]
        secret = name.upper()
        assert env["HINTERLAND_REDIS_URL"].startswith(f"redis://{name}:${{{secret}_REDIS_PASSWORD")
        assert env["HINTERLAND_DATABASE_URL"].startswith(
            f"postgresql+asyncpg://{name}:${{{secret}_DB_PASSWORD"
        )
    roles = (Path(__file__).parents[2] / "deploy" / "postgres" / "roles.sh").read_text()
    for name in ("reserves", "transport", "dispatch"):
        assert f"CREATE ROLE {name} LOGIN" in roles
