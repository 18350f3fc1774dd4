"""The deployment files agree with each other: compose, Dockerfile, workspaces and dagster.yaml.

Docker does not run in the test environment, so these tests read the files the way Docker
Compose does (YAML with merge keys, ``${VAR:-default}`` interpolation) and check what a
broken deployment would get wrong: the webserver looking for the code server at the wrong
host or port, a Dagster service without the instance's database URL, a project variable that
never reaches the code location, a secret written into the file.
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import make_url

import tgstats_dagster
from tgstats_dagster.instance_storage import PG_URL_VARIABLE

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
DAGSTER_YAML = ROOT / "dagster.yaml"
WORKSPACE = ROOT / "workspace.yaml"
DOCKER_WORKSPACE = ROOT / "workspace.docker.yaml"
SETTINGS = Path(tgstats_dagster.__file__).with_name("settings.py")
PACKAGED_INSTANCE = Path(tgstats_dagster.__file__).parent / "cli" / "instance.yaml"

# The "Configuration" table of the design: what users set, so what a deployment must pass on.
DESIGN_VARIABLES = (
    "MTPROTO_ENABLED",
    "MTPROTO_STATS_ENABLED",
    "MTPROTO_STATS_PEERS",
    "MTPROTO_STATS_PERIOD_DAYS",
    "MTPROTO_STATS_CONCURRENCY",
    "TG_API_ID",
    "TG_API_HASH",
    "TG_SESSION",
    "TGSTATS_TELEGRAM_REPLAY",
    "TGSTATS_REPLAY_LOG",
    "TGSTATS_DATABASE_URL",
    "TGSTATS_HOME",
    "TGSTATS_START_DATE",
)
SECRET_VARIABLES = ("POSTGRES_PASSWORD", "TG_API_HASH", "TG_SESSION")
DAGSTER_SERVICES = ("code", "webserver", "daemon")
# What `docker compose` would read from .env in this test: every value distinct and findable.
DOTENV = {"POSTGRES_PASSWORD": "pw-from-dotenv", "POSTGRES_USER": "tg", "POSTGRES_DB": "tgdb"}

_INTERPOLATION = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}|\$\$")


def interpolate(value: str, env: dict[str, str]) -> str:
    """Docker Compose's ``${VAR}``, ``${VAR:-default}``, ``${VAR:?error}`` and ``$$``."""

    def replace(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name"), match.group("op"), match.group("arg")
        value = env.get(name)
        unset = value is None or (value == "" and op is not None and op.startswith(":"))
        if op in ("-", ":-"):
            return arg if unset else value
        if op in ("?", ":?"):
            if unset:
                raise KeyError(f"{name}: {arg}")
            return value
        return value or ""

    return _INTERPOLATION.sub(replace, value)


def referenced_variables(value: str) -> set[str]:
    return {m.group("name") for m in _INTERPOLATION.finditer(value) if m.group("name")}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {name: str(value) for name, value in env.items()}


def resolved_environment(service: dict[str, Any]) -> dict[str, str]:
    return {name: interpolate(value, DOTENV) for name, value in environment(service).items()}


def option(command: list[str], *names: str) -> str:
    """The value that follows one of ``names`` in a command line."""
    for index, word in enumerate(command):
        if word in names:
            return command[index + 1]
    raise AssertionError(f"{command} has no {' / '.join(names)} option")


def instance_env_variables(config: Any) -> set[str]:
    """Every ``{env: NAME}`` in a Dagster config document."""
    if isinstance(config, dict):
        found = {config["env"]} if set(config) == {"env"} else set()
        for value in config.values():
            found |= instance_env_variables(value)
        return found
    if isinstance(config, list):
        return set().union(*(instance_env_variables(v) for v in config)) if config else set()
    return set()


def settings_variables() -> set[str]:
    """The variable names settings.py reads (``env.get("X"`` and ``(env, "X"``)."""
    source = SETTINGS.read_text(encoding="utf-8")
    return set(re.findall(r"env(?:\.get\(|, )\"([A-Z][A-Z0-9_]+)\"", source))


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = DOCKERFILE.read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1].strip())
        for line in joined.splitlines()
        if line.strip()
    ]


def dockerfile_copies() -> dict[str, list[str]]:
    """destination -> sources, for every COPY of the build context."""
    copies: dict[str, list[str]] = {}
    for instruction, args in dockerfile_instructions():
        if instruction == "COPY" and not args.startswith("--from"):
            *sources, destination = args.split()
            copies[destination] = sources
    return copies


def dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for instruction, args in dockerfile_instructions():
        if instruction == "ENV":
            env.update(dict(re.findall(r"(\w+)=(\S+)", args)))
    return env


def test_top_level_dagster_yaml_is_the_packaged_instance() -> None:
    """`tgstats` copies the packaged instance.yaml; a deployment uses the top-level one."""
    assert DAGSTER_YAML.read_bytes() == PACKAGED_INSTANCE.read_bytes()


def test_instance_uses_postgres_and_the_telegram_pool() -> None:
    instance = yaml.safe_load(DAGSTER_YAML.read_text(encoding="utf-8"))
    # Dagster's PostgreSQL storage on TGSTATS_DAGSTER_PG_URL (or the embedded server).
    assert instance["storage"]["custom"] == {
        "module": "tgstats_dagster.instance_storage",
        "class": "TgstatsStorage",
    }
    # docs/deployment.md relies on these two: one Telegram step at a time across runs, and
    # runs launched through the code server (the default launcher), so no run_launcher entry.
    assert instance["concurrency"]["pools"]["default_limit"] == 1
    assert "run_launcher" not in instance


def test_compose_has_the_four_services(services: dict[str, dict[str, Any]]) -> None:
    assert set(services) == {"postgres", *DAGSTER_SERVICES}
    assert services["postgres"]["image"].startswith("postgres:")
    for name in DAGSTER_SERVICES:
        assert services[name]["build"] == ".", name
        assert services[name]["image"] == services["code"]["image"], name


def test_workspace_points_at_the_code_service(services: dict[str, dict[str, Any]]) -> None:
    workspace = yaml.safe_load(DOCKER_WORKSPACE.read_text(encoding="utf-8"))
    (entry,) = workspace["load_from"]
    grpc = entry["grpc_server"]
    code = services[grpc["host"]]
    command = code["command"]
    assert command[:3] == ["dagster", "code-server", "start"]
    assert int(option(command, "-p", "--port")) == grpc["port"]
    assert option(command, "-h", "--host") == "0.0.0.0", "other containers must reach it"
    assert option(command, "-m", "--module-name") == "tgstats_dagster.definitions"
    assert option(command, "--location-name") == grpc["location_name"]
    assert str(grpc["port"]) in code["expose"]
    health = code["healthcheck"]["test"]
    assert health[1:4] == ["dagster", "api", "grpc-health-check"]
    assert int(option(health, "-p", "--port")) == grpc["port"]


def test_both_workspaces_name_the_same_location() -> None:
    """Schedule and sensor state is kept by location name: local and compose must agree."""
    local = yaml.safe_load(WORKSPACE.read_text(encoding="utf-8"))["load_from"]
    docker = yaml.safe_load(DOCKER_WORKSPACE.read_text(encoding="utf-8"))["load_from"]
    assert local[0]["python_module"]["module_name"] == "tgstats_dagster.definitions"
    assert local[0]["python_module"]["location_name"] == docker[0]["grpc_server"]["location_name"]


def test_webserver_and_daemon_load_the_image_workspace(
    services: dict[str, dict[str, Any]],
) -> None:
    copies = dockerfile_copies()
    workspace_path = next(dst for dst, src in copies.items() if src == ["workspace.docker.yaml"])
    webserver, daemon = services["webserver"]["command"], services["daemon"]["command"]
    assert webserver[0] == "dagster-webserver"
    assert option(webserver, "-w", "--workspace") == workspace_path
    assert daemon[:2] == ["dagster-daemon", "run"]
    assert option(daemon, "-w", "--workspace") == workspace_path
    for name in ("webserver", "daemon"):
        depends = services[name]["depends_on"]
        assert depends["code"]["condition"] == "service_healthy", name
        assert depends["postgres"]["condition"] == "service_healthy", name


def test_every_dagster_service_opens_the_instance(services: dict[str, dict[str, Any]]) -> None:
    """dagster.yaml's variables are set in every Dagster service; DAGSTER_HOME holds it."""
    # The instance's storage reads its URL from the environment itself (never from the file).
    assert not instance_env_variables(yaml.safe_load(DAGSTER_YAML.read_text(encoding="utf-8")))
    wanted = {PG_URL_VARIABLE}
    copies = dockerfile_copies()
    instance_path = next(dst for dst, src in copies.items() if src == ["dagster.yaml"])
    assert instance_path.endswith("/dagster.yaml")
    dagster_home = instance_path.rsplit("/", 1)[0]
    assert dockerfile_env()["DAGSTER_HOME"] == dagster_home
    postgres = resolved_environment(services["postgres"])
    for name in DAGSTER_SERVICES:
        env = resolved_environment(services[name])
        assert wanted <= set(env), f"{name} lacks {wanted - set(env)}"
        assert env["DAGSTER_HOME"] == dagster_home, name
        url = make_url(env["TGSTATS_DAGSTER_PG_URL"])
        # A plain postgresql:// URL maps to psycopg 3, which Dagster's storage cannot use.
        assert url.drivername == "postgresql+psycopg2", name
        assert (url.host, url.port) == ("postgres", 5432), name
        assert url.username == postgres["POSTGRES_USER"] == DOTENV["POSTGRES_USER"], name
        assert url.password == postgres["POSTGRES_PASSWORD"] == DOTENV["POSTGRES_PASSWORD"]
        assert url.database == postgres["POSTGRES_DB"] == DOTENV["POSTGRES_DB"], name


def test_runs_logs_are_shared_between_code_and_webserver(
    services: dict[str, dict[str, Any]],
) -> None:
    """Run workers write stdout/stderr in `code`; the webserver shows them: one volume."""
    storage = f"{dockerfile_env()['DAGSTER_HOME']}/storage"
    for name in ("code", "webserver"):
        mounts = [v.split(":") for v in services[name]["volumes"]]
        assert any(target == storage for _, target in mounts), name


def test_code_location_gets_every_project_variable(services: dict[str, dict[str, Any]]) -> None:
    read = settings_variables()
    assert set(DESIGN_VARIABLES) <= read, "settings.py reads every variable of the design"
    env = environment(services["code"])
    missing = (set(DESIGN_VARIABLES) | read) - set(env)
    assert not missing, f"docker-compose.yml does not pass {sorted(missing)} to the code service"
    warehouse = make_url(resolved_environment(services["code"])["TGSTATS_DATABASE_URL"])
    instance = make_url(resolved_environment(services["code"])["TGSTATS_DAGSTER_PG_URL"])
    assert warehouse.drivername == "postgresql"
    assert warehouse.set(drivername="x") == instance.set(drivername="x"), "one database"


def test_user_settings_come_from_the_environment(services: dict[str, dict[str, Any]]) -> None:
    """Each user-facing variable is `${NAME...}` of itself, so .env or the shell decides."""
    env = environment(services["code"])
    fixed_by_compose = {"TGSTATS_DATABASE_URL", "TGSTATS_HOME", "TGSTATS_DAGSTER_PG_URL"}
    for name, value in env.items():
        if name in fixed_by_compose or name == "DAGSTER_HOME":
            continue
        assert re.fullmatch(rf"\$\{{{name}(:?-[^}}]*)?\}}", value), f"{name}: {value!r}"


def test_no_secret_is_written_in_the_files(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"].startswith(
        "${POSTGRES_PASSWORD:?"
    ), "the database password is required and has no default"
    for name, service in services.items():
        for variable, value in environment(service).items():
            if variable in SECRET_VARIABLES:
                assert referenced_variables(value) == {variable}, f"{name}.{variable}"
                assert re.fullmatch(rf"\$\{{{variable}(:-|:\?[^}}]*)?\}}", value), value
            if "://" in value:
                password = make_url(interpolate(value, DOTENV)).password
                assert password in (None, DOTENV["POSTGRES_PASSWORD"]), f"{name}.{variable}"
    secret_words = re.compile(r"(?i)(password|api_hash|session)\s*[:=]\s*(?![\s$\"]*\$\{)\S")
    for path in (DOCKERFILE, DOCKER_WORKSPACE, DAGSTER_YAML):
        assert not secret_words.search(path.read_text(encoding="utf-8")), path.name


def test_compose_without_the_password_fails_loudly(services: dict[str, dict[str, Any]]) -> None:
    env_without_password = {k: v for k, v in DOTENV.items() if k != "POSTGRES_PASSWORD"}
    for name in ("postgres", *DAGSTER_SERVICES):
        with pytest.raises(KeyError, match="POSTGRES_PASSWORD"):
            for value in environment(services[name]).values():
                interpolate(value, env_without_password)


def test_web_ui_is_published_on_loopback_only(services: dict[str, dict[str, Any]]) -> None:
    port = option(services["webserver"]["command"], "-p", "--port")
    assert services["webserver"]["ports"] == [f"127.0.0.1:{port}:{port}"]
    for name in ("postgres", "code", "daemon"):
        assert "ports" not in services[name], f"{name} is reachable inside the network only"


def test_image_builds_from_what_dockerignore_keeps() -> None:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]

    def ignored(path: str) -> bool:
        return any(
            fnmatch.fnmatch(path, p) or fnmatch.fnmatch(path, f"{p}/*") or path.startswith(f"{p}/")
            for p in patterns
        )

    sources = [src for srcs in dockerfile_copies().values() for src in srcs]
    assert {"setup.py", "tgstats_dagster", "dagster.yaml", "workspace.docker.yaml"} <= set(sources)
    for source in sources:
        assert (ROOT / source).exists(), source
        assert not ignored(source), f".dockerignore drops {source}, which the Dockerfile copies"
    for private in (".env", ".venv", ".tgstats", ".git"):
        assert ignored(private), f"{private} must stay out of the image"


def test_image_default_command_is_the_code_server(services: dict[str, dict[str, Any]]) -> None:
    cmd = next(args for instruction, args in dockerfile_instructions() if instruction == "CMD")
    assert yaml.safe_load(cmd) == services["code"]["command"]


def test_every_service_writes_events_in_batches() -> None:
    """The image sets what `tgstats` sets for a cheap run over many partitions."""
    from tgstats_dagster.cli.instance import DAGSTER_PERFORMANCE_ENV

    env = dockerfile_env()
    assert {name: env.get(name) for name in DAGSTER_PERFORMANCE_ENV} == DAGSTER_PERFORMANCE_ENV
