"""docker-compose.yml has the production shape (no container engine runs here, so it is read here;
tests/deploy/test_compose_commands.py runs its commands)."""

import re

from compose_stack import (CTRIP_SERVICES, ROOT, chains_file_variables, compose, env_files, mounted_files,
                           read_env_file)


def test_services_and_their_commands():
    services = compose()["services"]
    assert {"app", "worker", "sweeper", "scheduler", "postgres", "redis", "migrate"} <= set(services)
    assert services["migrate"]["command"] == ["ctrip", "db", "upgrade"]
    assert services["app"]["command"][:2] == ["ctrip", "api"]
    assert services["worker"]["command"][:2] == ["ctrip", "worker"]
    queues = lambda name: services[name]["command"][services[name]["command"].index("--queues") + 1].split(",")  # noqa: E731
    assert "sweep" not in queues("worker")
    assert queues("sweeper") == ["sweep"]
    assert services["scheduler"]["command"] == ["ctrip", "scheduler"]


def test_every_long_running_service_has_a_healthcheck_and_the_start_order_holds():
    services = compose()["services"]
    for name in ("app", "worker", "sweeper", "scheduler", "postgres", "redis"):
        assert services[name]["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL"), name
    assert "/ready" in " ".join(services["app"]["healthcheck"]["test"])
    for name in ("worker", "sweeper", "scheduler"):
        assert services[name]["healthcheck"]["test"][1:] == ["ctrip", "health", name], name
    for name in ("app", "worker", "sweeper", "scheduler"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["migrate"]["depends_on"]["redis"]["condition"] == "service_healthy"


def test_the_workers_metrics_ports_are_published_on_loopback_only():
    services = compose()["services"]
    for name in ("worker", "sweeper"):
        command = services[name]["command"]
        port = command[command.index("--metrics-port") + 1]
        assert f"127.0.0.1:{port}:{port}" in services[name]["ports"], name


def test_every_variable_the_chains_file_references_reaches_every_ctrip_service():
    services = compose()["services"]
    for name in CTRIP_SERVICES:
        mounts = dict((target, source) for source, target in mounted_files(services[name]))
        chains = mounts["/app/chains.yaml"]
        wanted = chains_file_variables(chains)
        assert wanted, f"{chains} references no variable: is it the production file?"
        missing = wanted - set(services[name]["environment"])
        assert not missing, f"{name} is not given {sorted(missing)}, which {chains.name} needs"


def test_only_the_sweeper_gets_the_mnemonic_and_through_its_own_env_file():
    text = (ROOT / "docker-compose.yml").read_text()
    services = compose()["services"]
    assert "MNEMONIC}" not in text, "the mnemonic must not be interpolated into docker-compose.yml"
    for name, service in services.items():
        assert "CTRIP_WALLET__MNEMONIC" not in (service.get("environment") or {}), name
        if name != "sweeper":
            assert not env_files(service), f"{name} reads an env_file: only the sweeper has one"
        for key, value in (service.get("environment") or {}).items():
            if any(word in key for word in ("PASSWORD", "SECRET", "XPUB")):
                assert str(value).startswith("${"), f"{name}.{key} must come from the environment"
    assert env_files(services["sweeper"]) == ["sweeper.env"]
    example = read_env_file(ROOT / "sweeper.env.example")
    assert list(example) == ["CTRIP_WALLET__MNEMONIC"] and not example["CTRIP_WALLET__MNEMONIC"]
    assert "whsec_" not in text and "xpub6" not in text


def test_the_real_env_files_are_ignored_and_the_example_names_every_variable():
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert ".env" in ignored and "sweeper.env" in ignored
    example = read_env_file(ROOT / ".env.example")
    assert "CTRIP_WALLET__MNEMONIC" not in example
    text = (ROOT / "docker-compose.yml").read_text()
    required = set(re.findall(r"\$\{([A-Z0-9_]+):\?", text))
    assert required <= set(example), f".env.example lacks {sorted(required - set(example))}"
    assert all(value == "" for value in example.values()), ".env.example holds a value"


def test_dockerfile_installs_pinned_core_and_plugins():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "-c constraints.txt" in dockerfile
    for plugin in ("ctrip_ethereum", "ctrip_bsc", "ctrip_anvil", "ctrip_notify_smtp"):
        assert f"plugins/{plugin}" in dockerfile


def test_dockerfile_defaults_to_production():
    """A container started without CTRIP_ENV must not run `development` (private webhook targets allowed)."""
    lines = [line.split() for line in (ROOT / "Dockerfile").read_text().splitlines()]
    env = {word.split("=", 1)[0]: word.split("=", 1)[1] for line in lines if line[:1] == ["ENV"] for word in line[1:]}
    assert env.get("CTRIP_ENV") == "production"
