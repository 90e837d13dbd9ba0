"""Docs stay complete: every hook has a section in docs/plugins.md, every setting a row in configuration.md."""

import inspect
import json
import re
from pathlib import Path

from pydantic import BaseModel

from ctrip_core import hookspecs
from ctrip_core.config import ChainConfig, Settings

DOCS = Path(__file__).parents[2] / "docs"


def _keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    keys = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys += _keys(annotation, f"{prefix}{name}.")
        else:
            keys.append(prefix + name)
    return keys


def test_every_hook_is_documented_with_its_signature():
    """Each hook's docs section heads with the spec's exact argument names, in order (as datasette
    checks its own), so a renamed or added argument cannot leave the docs behind."""
    text = (DOCS / "plugins.md").read_text()
    specs = [n for n in dir(hookspecs) if n.startswith("ctrip_")]
    assert specs, "no hook specs found"
    for name in specs:
        arguments = ", ".join(inspect.signature(getattr(hookspecs, name)).parameters)
        assert f"### `{name}({arguments})`" in text, f"{name}({arguments}) has no section in docs/plugins.md"
    documented = re.findall(r"^### `(ctrip_\w+)\(", text, flags=re.MULTILINE)
    assert sorted(documented) == sorted(specs), "docs/plugins.md documents a hook that is not a spec"


def test_every_method_of_a_plugin_base_class_is_documented_with_its_arguments():
    """What the core calls on a plugin's objects is on their base class, and docs/plugins.md shows each
    of those methods with its exact argument names, so the page is the contract a plugin is written to."""
    from ctrip_core.matching import Matcher
    from ctrip_core.notifiers import Notifier
    from ctrip_core.pricing import RateProvider
    from ctrip_core.wallet import AddressDeriver

    text = (DOCS / "plugins.md").read_text()
    for base in (Matcher, Notifier, AddressDeriver, RateProvider):
        methods = [n for n, f in vars(base).items() if inspect.isfunction(f) and not n.startswith("_")]
        assert methods, base
        for name in methods:
            arguments = ", ".join(list(inspect.signature(getattr(base, name)).parameters)[1:])
            assert f"`{name}({arguments})" in text or f"`async {name}({arguments})" in text, \
                f"{base.__name__}.{name}({arguments}) is not in docs/plugins.md"


def test_every_setting_is_documented():
    text = (DOCS / "configuration.md").read_text()
    for key in _keys(Settings):
        if key != "env":  # chosen by CTRIP_ENV, documented above the table
            assert f"| `{key}` |" in text, f"setting {key} missing from docs/configuration.md"


def _shown(default) -> str:
    """A default as the settings table writes it: `unset` for None, else TOML-like in backticks."""
    if default is None:
        return "unset"
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"
    if isinstance(default, list):
        return f"`{json.dumps(default)}`"
    return f"`{default}`"


def _model_defaults(model: type[BaseModel], prefix: str = "") -> dict[str, object]:
    found: dict[str, object] = {}
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            found |= _model_defaults(annotation, f"{prefix}{name}.")
        elif not field.is_required():
            found[prefix + name] = field.get_default(call_default_factory=True)
    return found


def test_every_settings_default_in_the_docs_is_the_models():
    """The settings table's default column shows each field's own default (the one place it is written)."""
    rows = dict(re.findall(r"^\| `([\w.]+)` \| (.+?) \|", (DOCS / "configuration.md").read_text().split("## chains.yaml")[0],
                           flags=re.MULTILINE))
    for key, default in _model_defaults(Settings).items():
        assert rows.get(key) == _shown(default), f"docs/configuration.md shows {key} = {rows.get(key)}, " \
                                                f"the model's default is {_shown(default)}"


def test_every_chains_yaml_key_is_documented():
    text = (DOCS / "configuration.md").read_text()
    for key in ChainConfig.model_fields:
        doc_key = {"rpc_urls": "rpc_url", "name": None}.get(key, key)
        if doc_key:
            assert f"| `{doc_key}` |" in text, f"chains.yaml key {doc_key} missing from docs/configuration.md"


def test_plugins_doc_example_registers_an_adapter():
    """The adapter example in docs/plugins.md runs and registers through the real hook machinery."""
    import re

    import pluggy

    from ctrip_core.plugins import collect_chain_adapters

    code = re.search(r"```python\n(.*?)```", (DOCS / "plugins.md").read_text(), re.S).group(1)
    namespace: dict = {}
    exec(compile(code, "docs/plugins.md", "exec"), namespace)  # noqa: S102 - our own documentation
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(type("DocPlugin", (), {"ctrip_register_chain_adapters": staticmethod(
        namespace["ctrip_register_chain_adapters"])})())
    adapters = collect_chain_adapters(pm)
    assert adapters["gnosis"].chain_ids == (100, 10200) and adapters["gnosis"].default_confirmations == 20
    assert adapters["gnosis"].default_block_time_s == 5


def test_every_command_is_in_the_readme_table():
    """Each `ctrip` command has a row in the README's command table (the row of its group names it)."""
    import click

    from ctrip_core.cli import _register_commands, cli

    _register_commands()
    rows = [line for line in (DOCS.parent / "README.md").read_text().splitlines() if line.startswith("| `ctrip ")]

    def leaves(command, path):
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                yield from leaves(sub, [*path, name])
        else:
            yield path

    paths = list(leaves(cli, []))
    assert len(paths) > 20
    for path in paths:
        first_cell = [row.split("|")[1] for row in rows if f"`ctrip {path[0]}" in row.split("|")[1]]
        assert any(path[-1] in cell for cell in first_cell), f"ctrip {' '.join(path)} has no row in README.md"
