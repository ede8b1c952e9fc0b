"""The link simulator in a process of its own, with :class:`NetSim`'s interface.

:class:`~remote_zip_store.testing.netsim.NetSim` is an asyncio proxy in Python. Run in the
benchmark's own process, it takes the GIL for every piece it paces and forwards, so a
client whose HTTP work is Python (this store, s3fs, botocore) waits for the proxy's turn,
while one whose I/O runs in Rust threads without the GIL (obstore, Icechunk, zarrista)
does not: the link itself would tilt the race. Here it runs in a spawned child; the
benchmark's ``time.process_time()`` is then the client's CPU alone (``cpu_time()`` is 0:
nothing to subtract). ``--sim-in-process`` in the benchmarks that take it runs the old
way, for comparison.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from typing import Any

from remote_zip_store.testing.netsim import LOOPBACK, Condition, Counts, NetSim


class SimProcess:
    """A :class:`NetSim` in a child process: ``endpoint``, ``counts()``, ``reset()``,
    ``set_condition()``, ``cpu_time()``, and use as a context manager."""

    def __init__(self, host: str, port: int, condition: Condition = LOOPBACK):
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve_sim, args=(child, host, port, condition))
        self._proc.start()
        self.port = int(self._conn.recv())
        self.condition = condition

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _ask(self, *message: Any) -> Any:
        self._conn.send(message)
        return self._conn.recv()

    def counts(self) -> Counts:
        counts: Counts = self._ask("counts")
        return counts

    def reset(self) -> None:
        self._ask("reset")

    def set_condition(self, condition: Condition) -> None:
        self._ask("condition", condition)
        self.condition = condition

    def cpu_time(self) -> float:
        """0: the proxy's CPU is its own process's, not in this one's ``process_time()``."""
        return 0.0

    def own_cpu_time(self) -> float | None:
        """The proxy process's CPU seconds so far (None where ``/proc`` is not there)."""
        return process_cpu(self._proc.pid)

    def start(self) -> SimProcess:
        return self

    def close(self) -> None:
        if self._proc.is_alive():
            with contextlib.suppress(OSError):
                self._conn.send(("stop",))
            self._proc.join(10)
        if self._proc.is_alive():
            self._proc.kill()

    def __enter__(self) -> SimProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _serve_sim(conn: Any, host: str, port: int, condition: Condition) -> None:
    with NetSim(host, port, condition) as sim:
        conn.send(sim.port)
        while True:
            message = conn.recv()
            if message[0] == "counts":
                conn.send(sim.counts())
            elif message[0] == "reset":
                sim.reset()
                conn.send(None)
            elif message[0] == "condition":
                sim.set_condition(message[1])
                conn.send(None)
            else:
                return


Link = NetSim | SimProcess


def link(
    host: str, port: int, condition: Condition = LOOPBACK, *, in_process: bool = False
) -> Link:
    """The simulator in its own process, or (``in_process``) beside the client."""
    return NetSim(host, port, condition) if in_process else SimProcess(host, port, condition)


def process_cpu(pid: int | None) -> float | None:
    """User + system CPU seconds of process ``pid`` so far, from ``/proc`` (Linux); None
    when not known. What a server or proxy on the same cores takes from the client."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
