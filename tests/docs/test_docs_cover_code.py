"""Docs stay complete: every hook has a section in docs/plugins.md, every setting a row in configuration.md."""

import inspect
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


def test_every_setting_is_documented():
    text = (DOCS / "configuration.md").read_text()
    for key in _keys(Settings):
        if key != "env":  # chosen by CTRIP_ENV, documented above the table
            assert f"| `{key}` |" in text, f"setting {key} missing from docs/configuration.md"


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
    assert adapters["polygon"].chain_ids == (137, 80002) and adapters["polygon"].default_confirmations == 128


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
