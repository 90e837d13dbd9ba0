"""A sweeper process for the tests: `python sweep_once.py CHAIN PASSES`, configured by CTRIP_ variables alone.

Runs PASSES sweep passes and prints each pass's report as one JSON line. With SWEEP_TEST_GO_FILE
it prints "ready" once set up and starts only when that file exists (to start two at once). With SWEEP_TEST_CRASH=
"before:N" the process SIGKILLs itself at its Nth broadcast before the transaction leaves it;
"after:N" right after the node accepted it, before the sweeper could record that. The crash is
injected here, in the test's process, by wrapping the chain's `send_raw_transaction`: the
gateway's code is unchanged, and SIGKILL leaves no chance to clean up (no finally, no rollback
sent, connections just drop), exactly like `kill -9`.
"""

import asyncio
import dataclasses
import json
import os
import signal
import sys

from ctrip_core.chains.evm import EVMChain
from ctrip_core.config import load_settings
from ctrip_core.runtime import build_runtime
from ctrip_core.services.sweeps.keys import SweepKeys
from ctrip_core.services.sweeps.sweep_pass import sweep_pass


def install_crash(spec: str) -> None:
    when, nth = spec.split(":")
    original = EVMChain.send_raw_transaction
    sent = 0

    async def send_raw_transaction(self, raw_tx: str) -> str:
        nonlocal sent
        sent += 1
        if sent == int(nth) and when == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        result = await original(self, raw_tx)
        if sent == int(nth) and when == "after":
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    EVMChain.send_raw_transaction = send_raw_transaction


async def main(chain: str, passes: int) -> None:
    settings = load_settings()
    rt = build_runtime(settings, "sweeper")
    keys = SweepKeys.from_settings(settings, rt.chain_configs())
    if os.environ.get("SWEEP_TEST_GO_FILE"):  # start together with another sweeper: wait for the starting shot
        print("ready", flush=True)
        while not os.path.exists(os.environ["SWEEP_TEST_GO_FILE"]):
            await asyncio.sleep(0.01)
    try:
        for _ in range(passes):
            report = await sweep_pass(rt, keys, chain)
            print(json.dumps(dataclasses.asdict(report)), flush=True)
    finally:
        await rt.close()


if __name__ == "__main__":
    if os.environ.get("SWEEP_TEST_CRASH"):
        install_crash(os.environ["SWEEP_TEST_CRASH"])
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
