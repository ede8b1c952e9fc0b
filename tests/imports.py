"""What importing a module loads, seen from a fresh interpreter (nothing imported yet)."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterable


def loaded_by(modules: Iterable[str], packages: Iterable[str]) -> list[str]:
    """The modules of ``packages`` (top-level names) that importing ``modules`` loads."""
    code = (
        f"import sys, {', '.join(modules)}\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {sorted(packages)!r}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return list(ast.literal_eval(done.stdout))
