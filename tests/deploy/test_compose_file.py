"""docker-compose.yml has the production shape (no container engine runs here, so it is read, not run)."""

from pathlib import Path

import yaml

ROOT = Path(__file__).parents[2]


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_services_and_their_commands():
    services = compose()["services"]
    assert {"app", "worker", "sweeper", "scheduler", "postgres", "redis", "migrate"} <= set(services)
    assert services["migrate"]["command"] == ["ctrip", "db", "upgrade"]
    assert services["app"]["command"][:2] == ["ctrip", "api"]
    assert services["worker"]["command"][:2] == ["ctrip", "worker"]
    assert "sweep" not in services["worker"]["command"][-1]
    assert services["sweeper"]["command"] == ["ctrip", "worker", "--queues", "sweep"]
    assert services["scheduler"]["command"] == ["ctrip", "scheduler"]


def test_healthchecks_and_start_order():
    services = compose()["services"]
    for name in ("app", "postgres", "redis"):
        assert services[name]["healthcheck"]["test"], name
    for name in ("app", "worker", "sweeper", "scheduler"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_secrets_come_from_the_environment_and_only_the_sweeper_has_the_mnemonic():
    text = (ROOT / "docker-compose.yml").read_text()
    services = compose()["services"]
    for name, service in services.items():
        env = service.get("environment", {})
        if name == "sweeper":
            assert env["CTRIP_WALLET__MNEMONIC"].startswith("${")
        else:
            assert "CTRIP_WALLET__MNEMONIC" not in env, name
        for key, value in env.items():
            if any(word in key for word in ("PASSWORD", "SECRET", "MNEMONIC", "XPUB")):
                assert str(value).startswith("${"), f"{name}.{key} must come from the environment"
    assert "whsec_" not in text and "xpub6" not in text


def test_dockerfile_installs_pinned_core_and_plugins():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "-c constraints.txt" in dockerfile
    for plugin in ("ctrip_ethereum", "ctrip_bsc", "ctrip_anvil"):
        assert f"plugins/{plugin}" in dockerfile


def test_dockerfile_defaults_to_production():
    """A container started without CTRIP_ENV must not run `development` (private webhook targets allowed)."""
    lines = [line.split() for line in (ROOT / "Dockerfile").read_text().splitlines()]
    env = {word.split("=", 1)[0]: word.split("=", 1)[1] for line in lines if line[:1] == ["ENV"] for word in line[1:]}
    assert env.get("CTRIP_ENV") == "production"
