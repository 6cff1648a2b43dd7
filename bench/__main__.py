"""Run every benchmark (make bench); figures go to stdout and bench/results/latest.txt."""

from __future__ import annotations

import importlib
import io
import sys
from contextlib import redirect_stdout
from pathlib import Path

BENCHES = [
    "bench.bench_workflow",
    "bench.bench_sweep",
    "bench.bench_listing",
    "bench.bench_notices",
    "bench.bench_dashboard",
]


def main() -> int:
    """Run each benchmark module's main() and keep a copy of what they print."""
    out = io.StringIO()

    class Tee(io.TextIOBase):
        def write(self, s):
            sys.__stdout__.write(s)
            out.write(s)
            return len(s)

    with redirect_stdout(Tee()):
        for name in BENCHES:
            try:
                module = importlib.import_module(name)
            except ModuleNotFoundError as err:
                print(f"{name}: not available ({err})")
                continue
            module.main()
    folder = Path(__file__).parent / "results"
    folder.mkdir(exist_ok=True)
    (folder / "latest.txt").write_text(out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
