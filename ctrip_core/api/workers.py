"""`ctrip api`'s Hypercorn worker processes: spawned, supervised, and their failure is the exit code.

Hypercorn's own `hypercorn.run.run` (0.18) returns 0 after a worker died of an exception (the
exit code it read is overwritten by a second, empty `_join_exited`), and multiprocessing prints
that worker's whole traceback: with `ctrip api --workers N` that was N tracebacks and exit 0. Here
each worker reports a failure as one line on stderr and exits 1, and `serve` returns 1 when any
worker did; a worker that exits 0 without being asked to stop is replaced, as Hypercorn does.
Everything an operator can get wrong is checked before this runs (ctrip_core/preflight.py).
"""

from __future__ import annotations

import signal
import sys
from multiprocessing import get_context
from multiprocessing.connection import wait
from typing import Any

from hypercorn.config import Config, Sockets

#: Seconds the parent waits for its workers to finish after asking them to stop, beyond Hypercorn's
#: graceful_timeout; then it terminates them.
STOP_MARGIN_S = 5.0

#: A worker's exit code when a stop signal sent to the whole process group (systemd's
#: KillMode=control-group, `docker stop` of a shell-less container) killed it before the parent's
#: own handler ran: a request to stop, not a failure.
STOP_SIGNAL_EXITS = frozenset({-signal.SIGTERM, -signal.SIGINT})


def _worker(config: Config, sockets: Sockets, shutdown_event: Any) -> None:
    """One Hypercorn worker (spawned): dies with `ctrip api`; a failure is one line and exit 1."""
    from hypercorn.asyncio.run import uvloop_worker

    from ctrip_core.parent_death import die_with_parent

    die_with_parent()
    try:
        uvloop_worker(config=config, sockets=sockets, shutdown_event=shutdown_event)
    except Exception as exc:  # noqa: BLE001 - the worker's last line of defence
        from ctrip_core.logs import one_line

        print(f"ctrip api: worker stopped: {one_line(exc)}", file=sys.stderr, flush=True)
        sys.exit(1)


def serve(config: Config) -> int:
    """Run `config.workers` workers until SIGINT/SIGTERM (→ 0) or until one fails (→ 1)."""
    sockets = config.create_sockets()
    ctx = get_context("spawn")
    shutdown_event = ctx.Event()
    stopping = False

    def stop(*_: Any) -> None:
        nonlocal stopping
        stopping = True
        shutdown_event.set()

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # inherited: the parent decides when workers stop
    workers: list = []
    exit_code = 0
    try:
        while True:
            while len(workers) < config.workers and not stopping:
                worker = ctx.Process(target=_worker, args=(config, sockets, shutdown_event))
                worker.start()
                workers.append(worker)
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, stop)
            wait([w.sentinel for w in workers])
            for worker in [w for w in workers if w.exitcode is not None]:
                worker.join()
                workers.remove(worker)
                if worker.exitcode in STOP_SIGNAL_EXITS:
                    stop()  # a process-group SIGTERM (systemd, a container runtime) reached it first
                elif worker.exitcode != 0:
                    exit_code = 1
            if exit_code or stopping:
                break
    finally:
        shutdown_event.set()
        for worker in workers:
            worker.join(config.graceful_timeout + STOP_MARGIN_S)
        for worker in workers:
            if worker.exitcode is None:
                worker.terminate()
                worker.join(STOP_MARGIN_S)
        for sock in [*sockets.secure_sockets, *sockets.insecure_sockets]:
            sock.close()
    return exit_code
