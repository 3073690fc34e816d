"""`python -m bench` (`make bench`): every bench/bench_*.py in turn, with its defaults.

Each runs as its own subprocess, under a header, and one failing does not stop
the rest; the exit status says whether any failed. The Slurm and Ray benches
need root (real Slurm 22.05 and 24.11 in podman containers; a Ray head in a
network namespace of its own) and are skipped otherwise; the web bench skips
itself without Debian's Chromium. `python -m bench intake turns` runs only the
benches named. The soak (an hour or more) runs only when named: `python -m bench
soak`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
NEEDS_ROOT = {"bench_slurm", "bench_ray"}
# Long, or needing the real embedded model: run only when named.
ONLY_WHEN_NAMED = {"bench_soak", "bench_local_model"}


def main(argv: list[str]) -> int:
    wanted = {f"bench_{name.removeprefix('bench_')}" for name in argv}
    benches = sorted(
        p
        for p in BENCH_DIR.glob("bench_*.py")
        if p.stem in wanted or (not wanted and p.stem not in ONLY_WHEN_NAMED)
    )
    if unknown := wanted - {p.stem for p in benches}:
        known = ", ".join(p.stem for p in sorted(BENCH_DIR.glob("bench_*.py")))
        print(f"unknown bench(es): {', '.join(sorted(unknown))}; known: {known}", file=sys.stderr)
        return 2
    results: list[tuple[str, str]] = []
    for path in benches:
        print(f"\n===== {path.stem} =====", flush=True)
        if path.stem in NEEDS_ROOT and os.geteuid() != 0:
            print("skipped: needs root (real Slurm in podman containers, or a Ray head in a")
            print("network namespace of its own)")
            results.append((path.stem, "skipped (not root)"))
            continue
        t0 = time.perf_counter()
        # Run from the repository root, so `agent`, `mcp_servers` and `tests` import.
        rc = subprocess.run([sys.executable, str(path)], cwd=BENCH_DIR.parent).returncode
        status = "ok" if rc == 0 else f"FAILED (exit {rc})"
        results.append((path.stem, f"{status}, {time.perf_counter() - t0:.0f} s"))
    print("\n===== summary =====")
    for name, status in results:
        print(f"{name:<20} {status}")
    return 0 if all(not s.startswith("FAILED") for _, s in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
