"""Benchmark: what `Reporter.epoch()` costs the training thread.

    .venv/bin/python bench/bench_reporter.py [--calls 20000] [--paced-calls 2000]

Times each call of a tight loop (perf_counter_ns around the call) and prints median,
p99 and max per call for: the same loop without reporting (baseline, same run), then
`epoch()` against a live local agent, a dead endpoint (closed port: refused at once)
and a hung endpoint (accepts, never answers: every POST waits for its timeout). The
loop is far denser than real epochs, so the queue fills and the overflow path (spool
to disk) is part of the figures. After each loop, `close()` runs with a long budget:
against the live agent it shows how fast the backlog drains; against the others, that
everything ends up in the spool. Everything lives in a temporary folder that is removed
at the end.
"""

from __future__ import annotations

import argparse
import base64
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mlops_reporter import Reporter  # noqa: E402
from mlops_reporter.spool import Spool  # noqa: E402

SECRET = "whsec_" + base64.b64encode(os.urandom(24)).decode()


class Accept(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(202)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def live_agent() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Accept)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def dead_agent() -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    yield f"http://127.0.0.1:{port}"  # closed: connections are refused


@contextmanager
def hung_agent() -> Iterator[str]:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1024)
    try:
        yield f"http://127.0.0.1:{s.getsockname()[1]}"
    finally:
        s.close()


def timed_loop(calls: int, step: Callable[[int], None], pause_s: float = 0.0) -> list[int]:
    """Per-call times; `pause_s` (untimed, between calls) stands for a training step that
    runs in native code with the GIL released, as a CUDA step does."""
    times = []
    clock = time.perf_counter_ns
    for i in range(calls):
        start = clock()
        step(i)
        times.append(clock() - start)
        if pause_s:
            time.sleep(pause_s)
    return times


def summary(name: str, ns: list[int], baseline_median: float | None = None) -> str:
    ordered = sorted(ns)
    median = statistics.median(ordered)
    p99 = ordered[int(len(ordered) * 0.99) - 1]
    extra = "" if baseline_median is None else f"  (+{(median - baseline_median) / 1000:.2f} µs)"
    slow = sum(1 for t in ordered if t > 1_000_000)
    return (
        f"{name:<30} median {median / 1000:6.2f} µs{extra:<14}"
        f"  p99 {p99 / 1000:7.2f} µs  max {max(ordered) / 1e6:7.2f} ms  >1 ms: {slow:4d}"
    )


def run(calls: int, queue: int, paced_calls: int, pause_s: float) -> None:
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, queue size {queue}")
    print(f"burst: {calls} calls back to back; paced: {paced_calls}, {pause_s * 1e3:g} ms apart")
    metrics = {"loss": 0.0, "acc": 0.0}

    def baseline(i: int) -> None:
        metrics["loss"] = 1.0 / (i + 1)  # the same work as below, minus the call

    times = timed_loop(calls, baseline)
    base_median = statistics.median(times)
    print(summary("baseline (no reporting)", times))
    # The same loop run 50 times longer: how often the OS alone stalls this thread.
    print(summary("baseline x50 (noise floor)", timed_loop(calls * 50, baseline)))

    # After each pause the thread runs cold (caches, CPU clock): paced calls need their
    # own baseline.
    paced_times = timed_loop(paced_calls, baseline, pause_s)
    paced_median = statistics.median(paced_times)
    print(summary("baseline, paced", paced_times))

    agents = [("live agent", live_agent), ("dead endpoint", dead_agent)]
    agents.append(("hung endpoint", hung_agent))
    loops = (("burst", calls, 0.0, base_median), ("paced", paced_calls, pause_s, paced_median))
    for pace, count, pause, reference in loops:
        for name, agent in agents:
            with tempfile.TemporaryDirectory() as tmp, agent() as url:
                reporter = Reporter(
                    job="bench",
                    url=url,
                    secret=SECRET,
                    spool_dir=tmp,
                    queue_size=queue,
                    timeout_s=1.0,
                )

                def report(i: int, reporter: Reporter = reporter, total: int = count) -> None:
                    metrics["loss"] = 1.0 / (i + 1)
                    reporter.epoch(i, total=total, metrics=metrics)

                times = timed_loop(count, report, pause)
                start = time.perf_counter()
                reporter.close(120)  # delivers everything if the agent is up, else spools
                close_s = time.perf_counter() - start
                left = len(Spool(Path(tmp), "bench").read())
                print(
                    summary(f"{pace}, {name}", times, reference)
                    + f"  | close {close_s:5.2f} s, sent {reporter.stats.sent}, spooled {left}"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--queue", type=int, default=1000)
    parser.add_argument("--paced-calls", type=int, default=2000)
    parser.add_argument("--pause-ms", type=float, default=1.0)
    args = parser.parse_args()
    run(args.calls, args.queue, args.paced_calls, args.pause_ms / 1000)


if __name__ == "__main__":
    main()
