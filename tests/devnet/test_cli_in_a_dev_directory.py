"""The README's commands, run in the directory of a running `ctrip dev`, reach that gateway."""

import json
import subprocess

from subprocesses import CTRIP, dev_env, running_dev


def ctrip(path, *args):
    return subprocess.run([CTRIP, *args], cwd=path, env=dev_env(), capture_output=True, text=True, timeout=60)


def test_the_readme_commands_work_against_the_dev_gateway_from_its_directory(tmp_path):
    with running_dev(tmp_path):
        state = json.loads((tmp_path / ".ctrip" / "dev.json").read_text())
        chains = ctrip(tmp_path, "chains")
        assert chains.returncode == 0 and "anvil" in chains.stdout and "31337" in chains.stdout, chains.stderr
        address = ctrip(tmp_path, "wallet", "address", "0")
        assert address.returncode == 0 and address.stdout.startswith("0x"), address.stderr
        tank = ctrip(tmp_path, "wallet", "gas-tank")
        assert tank.returncode == 0 and "anvil" in tank.stdout, tank.stderr
        merchants = ctrip(tmp_path, "merchant", "list", "--json")
        assert merchants.returncode == 0, merchants.stderr
        assert state["merchant_id"] in [m["merchant_id"] for m in json.loads(merchants.stdout)]
        current = ctrip(tmp_path, "db", "current")
        assert current.returncode == 0 and current.stdout.strip() != "base", current.stderr
    settings_file = tmp_path / ".ctrip" / "settings.toml"
    assert settings_file.stat().st_mode & 0o077 == 0  # it holds the dev secret key
    assert "mnemonic" not in settings_file.read_text()
