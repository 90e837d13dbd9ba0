"""Process settings (CONTRACT §2): dynaconf layers → typed `Settings`, every failure a ConfigError naming the key.

Every test runs in an empty temporary directory with no CTRIP_ variable set, so neither the
developer's shell nor the repository's own settings.toml leaks in unless a test asks for it.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, SecretStr

from ctrip_core.config import ConfigError, Settings, load_settings
from ctrip_core.config.settings import ENVIRONMENTS
from ctrip_core.devnet.accounts import ANVIL_MNEMONIC, ANVIL_XPUB

REPO_SETTINGS = Path(__file__).resolve().parents[2] / "settings.toml"


@pytest.fixture(autouse=True)
def clean_env(tmp_path, monkeypatch):
    for name in list(os.environ):
        if name.upper().startswith("CTRIP_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _error(**kwargs) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_settings(**kwargs)
    return info.value


# --- defaults ---------------------------------------------------------------------------------------


def test_defaults_load_from_any_directory_without_settings_toml(tmp_path):
    assert not (tmp_path / "settings.toml").exists()
    s = load_settings()
    assert isinstance(s, Settings)
    assert s.env == "development"
    assert s.database_url.startswith("sqlite+aiosqlite:///")
    assert s.redis_url.startswith("redis://")
    assert s.chains_file == Path("chains.yaml")
    assert s.plugins.enabled == []
    assert s.wallet.xpub is None and s.wallet.mnemonic is None
    assert s.secret_key is None
    assert s.payments.default_expiry_s == 3600
    assert s.webhooks.timeout_s == 10
    assert s.webhooks.max_attempts == 20
    assert s.webhooks.allow_private_targets is False


def _defaults(model: type[BaseModel], prefix: str = "") -> dict[str, Any]:
    """key → the model's own default, for every leaf setting ("env" has none: load_settings sets it)."""
    found: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            found |= _defaults(annotation, f"{prefix}{name}.")
        elif field.is_required():
            assert (prefix + name) == "env", f"setting {prefix + name} has no default in its model"
        else:
            found[prefix + name] = field.get_default(call_default_factory=True)
    return found


def _leaves(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in table.items():
        found |= _leaves(value, f"{prefix}{key}.") if isinstance(value, dict) else {prefix + key: value}
    return found


def test_every_default_is_the_models_and_no_file_adds_one():
    """A setting's default is its field's default and nothing else's: the package ships no settings
    file, and with no file and no variable every loaded value is the model's."""
    import ctrip_core.config

    assert not list(Path(ctrip_core.config.__file__).parent.rglob("*.toml")), "a second layer of defaults"
    loaded = load_settings()
    for key, default in _defaults(Settings).items():
        value = loaded
        for part in key.split("."):
            value = getattr(value, part)
        assert value == default, f"{key}: loaded {value!r}, the model's default is {default!r}"


def test_the_project_settings_toml_restates_no_default():
    """The repository's settings.toml holds only what the project changes: no value equal to its default."""
    defaults = _defaults(Settings)
    tables = tomllib.loads(REPO_SETTINGS.read_text())
    assert set(tables) <= {"default", *ENVIRONMENTS}
    for env, table in tables.items():
        for key, value in _leaves(table).items():
            assert key in defaults, f"settings.toml [{env}] sets {key}, which is no setting"
            default = defaults[key]
            assert value != (str(default) if isinstance(default, Path) else default), \
                f"settings.toml [{env}] {key} = {value!r} restates its default (ctrip_core/config/settings.py)"


def test_settings_toml_in_working_directory_is_read(tmp_path):
    (tmp_path / "settings.toml").write_text(
        '[default.payments]\ndefault_expiry_s = 900\n\n'
        '[development]\ndatabase_url = "sqlite+aiosqlite:///here.db"\n')
    s = load_settings()
    assert s.database_url == "sqlite+aiosqlite:///here.db"
    assert s.payments.default_expiry_s == 900
    # A section given in part keeps the package defaults for the rest.
    assert s.payments.max_expiry_s == 604800


def test_missing_settings_file_named_by_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("CTRIP_SETTINGS_FILE", str(tmp_path / "nope.toml"))
    err = _error()
    assert err.where == "CTRIP_SETTINGS_FILE"
    assert "nope.toml" in err.message


def test_unreadable_settings_toml_is_a_config_error(tmp_path):
    (tmp_path / "settings.toml").write_text("[default\ndatabase_url = \n")
    err = _error()
    assert "settings.toml" in err.where


# --- the project's settings.toml environments -----------------------------------------------------


@pytest.fixture
def project_settings(monkeypatch):
    assert REPO_SETTINGS.is_file()
    monkeypatch.setenv("CTRIP_SETTINGS_FILE", str(REPO_SETTINGS))


@pytest.mark.usefixtures("project_settings")
@pytest.mark.parametrize("env, url_prefix, private_targets", [
    ("development", "sqlite+aiosqlite:///", True),
    ("testing", "postgresql+asyncpg://", True),
    ("production", "postgresql+asyncpg://", False),
])
def test_project_environments(monkeypatch, env, url_prefix, private_targets):
    monkeypatch.setenv("CTRIP_ENV", env)
    s = load_settings()
    assert s.env == env
    assert s.database_url.startswith(url_prefix)
    assert s.webhooks.allow_private_targets is private_targets
    assert s.chains_file == Path("chains.yaml")
    # The committed file holds no secret.
    assert s.wallet.xpub is None and s.wallet.mnemonic is None and s.secret_key is None
    # The explicit argument picks the same environment.
    monkeypatch.delenv("CTRIP_ENV")
    assert load_settings(env).database_url == s.database_url


@pytest.mark.usefixtures("project_settings")
def test_development_is_the_default_environment():
    s = load_settings()
    assert s.env == "development"
    assert s.database_url.startswith("sqlite+aiosqlite:///")


@pytest.mark.usefixtures("project_settings")
def test_testing_environment_uses_its_own_redis_db(monkeypatch):
    monkeypatch.setenv("CTRIP_ENV", "testing")
    assert load_settings().redis_url.endswith("/15")


@pytest.mark.usefixtures("project_settings")
def test_env_name_is_case_insensitive(monkeypatch):
    monkeypatch.setenv("CTRIP_ENV", "Production")
    assert load_settings().env == "production"


@pytest.mark.parametrize("value", ["staging", "prod", "default"])
def test_invalid_ctrip_env_names_the_variable(monkeypatch, value):
    monkeypatch.setenv("CTRIP_ENV", value)
    err = _error()
    assert err.where == "CTRIP_ENV"
    assert value in err.message and "production" in err.message
    assert "CTRIP_ENV" in str(err)


def test_invalid_env_argument_names_ctrip_env():
    assert _error(env="staging").where == "CTRIP_ENV"


# --- CTRIP_ environment variables ---------------------------------------------------------------


def test_env_overrides_top_level_and_nested_keys(monkeypatch):
    monkeypatch.setenv("CTRIP_DATABASE_URL", "postgresql+asyncpg://u:pw@db:5432/x")
    monkeypatch.setenv("CTRIP_CHAINS_FILE", "/etc/ctrip/chains.yaml")
    monkeypatch.setenv("CTRIP_WALLET__XPUB", ANVIL_XPUB)
    monkeypatch.setenv("CTRIP_PLUGINS__ENABLED", '["anvil"]')
    monkeypatch.setenv("CTRIP_WEBHOOKS__TIMEOUT_S", "3")
    monkeypatch.setenv("CTRIP_PAYMENTS__DEFAULT_EXPIRY_S", "600")
    s = load_settings()
    assert s.database_url == "postgresql+asyncpg://u:pw@db:5432/x"
    assert s.chains_file == Path("/etc/ctrip/chains.yaml")
    assert isinstance(s.wallet.xpub, SecretStr)
    assert s.wallet.xpub.get_secret_value() == ANVIL_XPUB
    assert s.plugins.enabled == ["anvil"]
    assert s.webhooks.timeout_s == 3
    assert s.payments.default_expiry_s == 600
    # A nested variable changes one key, never the rest of its section.
    assert s.webhooks.max_attempts == 20
    assert s.payments.max_expiry_s == 604800


@pytest.mark.usefixtures("project_settings")
def test_env_beats_settings_toml(monkeypatch):
    monkeypatch.setenv("CTRIP_ENV", "production")
    monkeypatch.setenv("CTRIP_DATABASE_URL", "postgresql+asyncpg://ctrip:secret@db/ctrip")
    monkeypatch.setenv("CTRIP_WEBHOOKS__MAX_ATTEMPTS", "5")
    s = load_settings()
    assert s.database_url == "postgresql+asyncpg://ctrip:secret@db/ctrip"
    assert s.webhooks.max_attempts == 5
    assert s.webhooks.timeout_s == 10
    # What only belongs in development is refused in production, even from the environment.
    monkeypatch.setenv("CTRIP_WEBHOOKS__ALLOW_PRIVATE_TARGETS", "true")
    assert _error().where == "webhooks.allow_private_targets"


def test_overrides_argument_beats_everything(monkeypatch):
    monkeypatch.setenv("CTRIP_DATABASE_URL", "postgresql+asyncpg://from-env/x")
    assert load_settings(database_url="sqlite+aiosqlite:///override.db").database_url == \
        "sqlite+aiosqlite:///override.db"


def test_ctrip_variables_that_are_not_settings_are_ignored(monkeypatch):
    """CTRIP_ also prefixes chains.yaml references and tool switches; they must not break settings."""
    monkeypatch.setenv("CTRIP_ANVIL_RPC_URL", "http://127.0.0.1:9999")
    monkeypatch.setenv("CTRIP_ANVIL_TOKEN", "0x5FbDB2315678afecb367f032d93F642f64180aa3")
    monkeypatch.setenv("CTRIP_DEBUG", "1")
    monkeypatch.setenv("CTRIP_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
    s = load_settings()
    assert s.database_url.startswith("sqlite+aiosqlite:///")


@pytest.mark.parametrize("value", ["-5", "0", "abc", "1.5", "[1]"])
def test_wrong_type_names_the_key(monkeypatch, value):
    monkeypatch.setenv("CTRIP_PAYMENTS__DEFAULT_EXPIRY_S", value)
    err = _error()
    assert err.where == "payments.default_expiry_s"
    assert str(err).startswith("payments.default_expiry_s: ")


@pytest.mark.parametrize("var, key, value", [
    ("CTRIP_WEBHOOKS__TIMEOUT_S", "webhooks.timeout_s", "0"),
    ("CTRIP_WEBHOOKS__MAX_ATTEMPTS", "webhooks.max_attempts", "0"),
    ("CTRIP_WEBHOOKS__ALLOW_PRIVATE_TARGETS", "webhooks.allow_private_targets", "perhaps"),
    ("CTRIP_PLUGINS__ENABLED", "plugins.enabled", "42"),
    ("CTRIP_API__WORKERS", "api.workers", "none"),
])
def test_other_bad_values_name_their_key(monkeypatch, var, key, value):
    monkeypatch.setenv(var, value)
    assert _error().where.startswith(key)


def test_unknown_key_inside_a_section_from_env_is_named(monkeypatch):
    monkeypatch.setenv("CTRIP_WEBHOOKS__TIMEOUTT_S", "3")
    err = _error()
    assert err.where == "webhooks.timeoutt_s"


def test_unknown_key_inside_a_section_from_file_is_named(tmp_path):
    (tmp_path / "settings.toml").write_text("[default.payments]\ndefault_expiry = 600\n")
    assert _error().where == "payments.default_expiry"


def test_unknown_top_level_key_from_file_is_named(tmp_path):
    (tmp_path / "settings.toml").write_text('[default]\ndatabse_url = "sqlite+aiosqlite:///x.db"\n')
    assert _error().where == "databse_url"


def test_unknown_nested_env_section_is_named(monkeypatch):
    monkeypatch.setenv("CTRIP_WALLETT__XPUB", ANVIL_XPUB)
    assert _error().where.startswith("wallett")


# --- secrets --------------------------------------------------------------------------------------


def test_mnemonic_and_xpub_are_secret_and_never_printed(monkeypatch):
    monkeypatch.setenv("CTRIP_WALLET__MNEMONIC", ANVIL_MNEMONIC)
    monkeypatch.setenv("CTRIP_WALLET__XPUB", ANVIL_XPUB)
    monkeypatch.setenv("CTRIP_SECRET_KEY", "s3cr3t-key-value-long-enough-0123456789")
    s = load_settings()
    assert isinstance(s.wallet.mnemonic, SecretStr)
    assert s.wallet.mnemonic.get_secret_value() == ANVIL_MNEMONIC
    assert s.secret_key.get_secret_value() == "s3cr3t-key-value-long-enough-0123456789"
    rendered = [repr(s), str(s), repr(s.wallet), str(s.wallet), f"{s}", s.model_dump_json(),
                str(s.model_dump()), repr(s.wallet.mnemonic), str(s.wallet.mnemonic)]
    for text in rendered:
        assert "test test" not in text and "junk" not in text
        assert ANVIL_XPUB not in text
        assert "s3cr3t" not in text


def test_settings_are_frozen():
    s = load_settings()
    with pytest.raises(Exception):
        s.database_url = "sqlite+aiosqlite:///other.db"
    with pytest.raises(Exception):
        s.webhooks.timeout_s = 1


# --- database_url as hosting providers give it, secret_key strength ------------------------------


@pytest.mark.parametrize("given, used", [
    ("postgres://u:pw@db.example:5432/ctrip", "postgresql+asyncpg://u:pw@db.example:5432/ctrip"),
    ("postgresql://u@db/ctrip?sslmode=require", "postgresql+asyncpg://u@db/ctrip?sslmode=require"),
    ("postgresql+asyncpg://u@db/ctrip", "postgresql+asyncpg://u@db/ctrip"),
    ("sqlite:///ctrip.db", "sqlite+aiosqlite:///ctrip.db"),
])
def test_database_url_forms_are_used_with_the_async_driver(given, used):
    assert load_settings(database_url=given).database_url == used


@pytest.mark.parametrize("given, says", [
    ("mysql://u:pw@db/ctrip", "mysql:// is not supported"),
    ("postgresql+psycopg2://u:pw@db/ctrip", "not supported"),
    ("ctrip-db", "is not a URL"),
    ("postgresql:///ctrip", "names no host"),
])
def test_a_database_url_that_cannot_work_names_database_url(given, says):
    error = _error(database_url=given)
    assert error.where == "database_url" and says in error.message
    assert "pw" not in str(error)


def test_an_empty_secret_key_is_unset_and_a_weak_one_is_refused():
    assert load_settings(secret_key="").secret_key is None
    for weak in ("short", "a" * 64, "abcabcabcabcabcabcabcabcabcabcabcabc"):
        error = _error(secret_key=weak)
        assert error.where == "secret_key" and "too weak" in error.message
        assert weak not in str(error)
