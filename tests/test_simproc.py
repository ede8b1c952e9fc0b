"""The benchmarks' CPU accounting of other processes (``benchmarks.simproc.process_cpu``):
what the server and the link simulator take from the client's cores."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from benchmarks.simproc import process_cpu

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="needs /proc")


def test_a_process_cpu_grows_with_its_work_and_is_none_when_unknown() -> None:
    busy = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time\nend = time.process_time() + 0.5\n"
            "while time.process_time() < end: pass\nimport sys; sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        spent = process_cpu(busy.pid)
        while (spent is None or spent < 0.45) and time.monotonic() < deadline:
            time.sleep(0.05)
            spent = process_cpu(busy.pid)
        assert spent is not None and 0.45 <= spent < 30  # the child's, not this process's
    finally:
        assert busy.stdin is not None
        busy.stdin.close()
        busy.wait(30)
    assert process_cpu(busy.pid) is None  # gone (reaped)
    assert process_cpu(None) is None
