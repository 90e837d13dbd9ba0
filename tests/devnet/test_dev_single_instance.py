"""`ctrip dev` holds its directory: a second one there is refused in one line; a taken port is named."""

import socket
import subprocess

from subprocesses import CTRIP, dev_env, running_dev

from ctrip_core.devnet.anvil import free_port
from ctrip_core.devnet.receiver import RECEIVER_PATH


def test_a_second_ctrip_dev_in_the_same_directory_is_refused_in_one_line(tmp_path):
    with running_dev(tmp_path) as first:
        second = subprocess.run([CTRIP, "dev", "--port", str(free_port(19000)), "--anvil-port",
                                 str(free_port(19545))], cwd=tmp_path, env=dev_env(), capture_output=True,
                                text=True, timeout=60)
        assert first.poll() is None  # the first one is untouched
    assert second.returncode == 1
    assert second.stderr.strip().splitlines() == [
        f"Error: another `ctrip dev` (pid {first.pid}) is running in this directory; "
        "stop it first, or run this one from another directory"]
    assert "Traceback" not in second.stdout + second.stderr


def test_after_the_first_stops_the_directory_is_free_again_and_a_taken_port_is_named(tmp_path):
    with running_dev(tmp_path):
        pass
    taken = socket.socket()
    port = free_port(19100)
    taken.bind(("127.0.0.1", port))
    taken.listen()
    try:
        with running_dev(tmp_path, api_port=port) as again:
            pass
        output = again.stdout.read()
    finally:
        taken.close()
    assert f"port {port} is taken; the API on " in output


def _receiver_endpoints(path) -> list[str]:
    import json

    import httpx

    state = json.loads((path / ".ctrip" / "dev.json").read_text())
    answer = httpx.get(f"{state['api_url']}/v1/webhook-endpoints", timeout=5,
                       headers={"Authorization": f"Bearer {state['api_key']}"})
    answer.raise_for_status()
    return [e["url"] for e in answer.json()["data"] if e["url"].endswith(RECEIVER_PATH)]


def test_the_receivers_endpoint_lives_as_long_as_its_ctrip_dev(tmp_path):
    import os
    import signal

    with running_dev(tmp_path, "--receiver") as first:
        assert len(_receiver_endpoints(tmp_path)) == 1
    assert first.returncode == 0
    with running_dev(tmp_path):
        assert _receiver_endpoints(tmp_path) == []  # removed when the first one stopped
    with running_dev(tmp_path, "--receiver") as killed:
        assert len(_receiver_endpoints(tmp_path)) == 1
        os.killpg(killed.pid, signal.SIGKILL)
        killed.wait()
    with running_dev(tmp_path):
        assert _receiver_endpoints(tmp_path) == []  # a killed run's is removed by the next one
