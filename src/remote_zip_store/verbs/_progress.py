"""A one-line progress bar on stderr, drawn only when stderr is a terminal.

Twenty lines instead of a dependency: the CLI needs a count, a bar and a rate,
redrawn at most ten times a second, and silence when piped or redirected.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from types import TracebackType
from typing import TextIO


class Progress:
    """``with Progress(total, "scan") as bar: ... bar.advance()``; thread-safe."""

    def __init__(
        self,
        total: int,
        label: str,
        *,
        stream: TextIO | None = None,
        enabled: bool | None = None,
        width: int = 30,
    ):
        self.total = max(0, total)
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        if enabled is None:
            enabled = _is_terminal(self.stream)
        self.enabled = enabled
        self.width = width
        self.done = 0
        self._start = time.monotonic()
        self._drawn = 0.0
        self._lock = threading.Lock()

    def advance(self, n: int = 1) -> None:
        with self._lock:
            self.done += n
            now = time.monotonic()
            if self.enabled and (now - self._drawn >= 0.1 or self.done >= self.total):
                self._drawn = now
                self._draw(now)

    def _draw(self, now: float) -> None:
        fraction = self.done / self.total if self.total else 1.0
        filled = int(self.width * min(1.0, fraction))
        elapsed = max(now - self._start, 1e-9)
        bar = "#" * filled + "-" * (self.width - filled)
        line = f"\r{self.label} [{bar}] {self.done}/{self.total} {self.done / elapsed:.1f}/s"
        self.stream.write(line)
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            with self._lock:
                self._draw(time.monotonic())
                self.stream.write("\n")
                self.stream.flush()

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty() and os.environ.get("TERM") != "dumb"
    except (AttributeError, ValueError):
        return False
