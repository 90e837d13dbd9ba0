"""docker-compose.yml read as Compose reads it: services (anchors and `<<` merged by YAML), `${VAR}`
interpolation from an .env, each service's environment (its `env_file`s, then `environment`), and the
variables the mounted chains file references. Shared by the compose tests (no engine runs here).
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from ctrip_core.config.chains_file import _ENV_REF

ROOT = Path(__file__).parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
CTRIP_SERVICES = ("migrate", "app", "worker", "sweeper", "scheduler")

#: Compose's interpolation: `$$`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?err}`, `${VAR?err}`.
_INTERPOLATION = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


class MissingVariable(KeyError):
    pass


def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def interpolate(value: str, variables: dict[str, str]) -> str:
    def sub(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.groups()
        present = name in variables and (variables[name] != "" or not (op or "").startswith(":"))
        if present:
            return variables[name]
        if op and op.endswith("-"):
            return arg
        if op and op.endswith("?"):
            raise MissingVariable(f"{name}: {arg}")
        return ""

    return _INTERPOLATION.sub(sub, value)


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines (comments and blank lines skipped), as Compose's env_file and .env are read."""
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def env_files(service: dict) -> list[str]:
    files = service.get("env_file", [])
    return [files] if isinstance(files, str) else list(files)


def service_environment(service: dict, variables: dict[str, str], env_dir: Path) -> dict[str, str]:
    """What a container of `service` gets: its env_files (read from `env_dir`), then `environment`."""
    env: dict[str, str] = {}
    for name in env_files(service):
        env.update(read_env_file(env_dir / name))
    for key, value in (service.get("environment") or {}).items():
        env[key] = interpolate(str(value), variables)
    return env


def mounted_files(service: dict) -> list[tuple[Path, str]]:
    """(file in the repository, path in the container) of each bind mount of the service."""
    mounts = []
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("./"):
            mounts.append((ROOT / source, target))
    return mounts


def chains_file_variables(path: Path) -> set[str]:
    """Every `${VAR}` the chains file's values reference (comments are not values)."""
    names: set[str] = set()

    def walk(value) -> None:
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, str):
            names.update(match.group(1) for match in _ENV_REF.finditer(value))

    walk(yaml.safe_load(path.read_text()))
    return names
