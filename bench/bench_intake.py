"""Benchmark: signed events through `POST /hooks/training` against a bare endpoint.

    .venv/bin/python bench/bench_intake.py [--connections 32] [--events 4000]
        [--rounds 5] [--rate 200] [--seconds 10] [--profile]

Two servers run as subprocesses on 127.0.0.1 with the service's uvicorn
settings (one process, `lifespan="off"`, no access log): the real intake
(`agent.service.app.build_app` + `TrainingHook` + `Inbox` on a sqlite file, WAL,
synchronous=FULL, group commit) and, as the baseline, a bare Starlette route
that reads the body and answers 202 without verifying or persisting.

The load comes from this process. Requests are pre-signed (Standard Webhooks,
one fresh `webhook-id` each) just before every phase, so signing costs the
load generator nothing while it measures. The client is plain asyncio streams
over keep-alive connections, not httpx: on a two-core machine the client
shares the CPU with the server, and a client that costs more per request than
the server would measure itself.

1. Throughput: `--connections` closed-loop connections send `--events` events
   (or stop after 30 s), bare and real taking turns for `--rounds` rounds.
   Prints the median events/s of each and the ratio real/bare.
2. Latency: an open-loop schedule of `--rate` events/s for `--seconds`; each
   latency runs from the event's scheduled send time (a late send counts), so
   a stall cannot hide. Prints p50/p99/max for both servers.

Afterwards the real server's inbox is checked: one row per accepted event.
`--profile` runs the real server under cProfile and prints where its time went.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MAX_PHASE_S = 30.0


# ---- the servers (run in a subprocess: `bench_intake.py --serve real|bare`) ----


def uvicorn_config(app: object, port: int) -> object:
    import uvicorn

    # The same settings as agent.service.Service._start_http.
    return uvicorn.Config(
        app,  # type: ignore[arg-type]
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
        access_log=False,
    )


async def serve_real(port: int, state: Path, secret: str, timings: dict | None) -> None:
    import uvicorn

    from agent.engine.db import Database
    from agent.engine.inbox import Inbox
    from agent.intake.webhook import TrainingHook
    from agent.service.app import build_app

    db = Database(state / "service.sqlite")
    if timings is not None:
        time_database(db, timings)
    await db.open()
    inbox = Inbox(db)
    await inbox.start()

    async def ready() -> dict[str, bool]:
        return {"inbox": True}

    app = build_app(TrainingHook(secret, inbox, 256 * 1024), ready)
    await serve_until_stdin_closes(uvicorn.Server(uvicorn_config(app, port)))  # type: ignore[arg-type]
    await inbox.stop()
    await db.close()


async def serve_bare(port: int) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def accept(request: Request) -> JSONResponse:
        await request.body()
        return JSONResponse({"id": 0}, status_code=202)

    app = Starlette(routes=[Route("/hooks/training", accept, methods=["POST"])])
    await serve_until_stdin_closes(uvicorn.Server(uvicorn_config(app, port)))  # type: ignore[arg-type]


async def serve_until_stdin_closes(server: Any) -> None:
    """The parent stops us by closing our stdin: no signal, so the profile gets printed."""
    loop = asyncio.get_running_loop()

    def wait_for_eof() -> None:
        sys.stdin.buffer.read()
        loop.call_soon_threadsafe(setattr, server, "should_exit", True)

    threading.Thread(target=wait_for_eof, daemon=True).start()
    await server.serve()


def time_database(db: Any, timings: dict[str, list[float]]) -> None:
    """Split each inbox write into: waiting for the db thread, and the sqlite work itself
    (INSERTs + COMMIT with its fsync). cProfile sees only the event loop's thread."""
    run, call = db.run, db._call

    def timed_call(fn: Any, args: tuple[Any, ...]) -> Any:
        t0 = time.perf_counter()
        try:
            return call(fn, args)
        finally:
            if getattr(fn, "__name__", "") == "_insert":
                timings["sqlite insert+commit (db thread)"].append(time.perf_counter() - t0)
                timings["batch size"].append(len(args[0]))

    async def timed_run(fn: Any, *args: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return await run(fn, *args)
        finally:
            if getattr(fn, "__name__", "") == "_insert":
                timings["db.run round trip (loop)"].append(time.perf_counter() - t0)

    db._call, db.run = timed_call, timed_run


def print_timings(timings: dict[str, list[float]]) -> None:
    print("\n--- real server: inbox write split ---")
    for name, values in timings.items():
        if not values:
            continue
        scale, unit = (1, "") if name == "batch size" else (1000, " ms")
        print(
            f"  {name:<34} n={len(values):<6} p50 {quantile(values, 0.5) * scale:7.2f}{unit}"
            f"  p99 {quantile(values, 0.99) * scale:7.2f}{unit}"
            f"  max {max(values) * scale:7.2f}{unit}"
        )


def serve(kind: str, port: int, state: Path, secret: str, profile: bool) -> None:
    timings: dict[str, list[float]] | None = None
    if profile and kind == "real":
        timings = collections.defaultdict(list)
    main = serve_real(port, state, secret, timings) if kind == "real" else serve_bare(port)
    if not profile:
        asyncio.run(main)
        return
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    asyncio.run(main)
    profiler.disable()
    stats = pstats.Stats(profiler, stream=sys.stdout)
    print(f"\n--- cProfile of the {kind} server, by own time ---")
    stats.sort_stats("tottime").print_stats(20)
    print(f"--- cProfile of the {kind} server, cumulative ---")
    stats.sort_stats("cumulative").print_stats(30)
    if timings is not None:
        print_timings(timings)


@dataclass
class Server:
    kind: str
    port: int
    process: subprocess.Popen[bytes]

    @classmethod
    def start(cls, kind: str, state: Path, secret: str, profile: bool = False) -> Server:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        cmd = [sys.executable, __file__, "--serve", kind, "--port", str(port)]
        cmd += ["--state", str(state), "--secret", secret] + (["--profile"] if profile else [])
        server = cls(kind, port, subprocess.Popen(cmd, stdin=subprocess.PIPE))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return server
            except OSError:
                time.sleep(0.05)
        server.stop()
        raise RuntimeError(f"{kind} server did not listen on {port} within 20 s")

    def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()  # see serve_until_stdin_closes
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# ---- the load generator --------------------------------------------------------


def signed_requests(port: int, secret: str, count: int, tag: str) -> list[bytes]:
    from standardwebhooks import Webhook

    webhook, now = Webhook(secret), datetime.now(UTC)
    out = []
    for i in range(count):
        event = {
            "type": "epoch",
            "job": f"bench/job-{i % 50}",
            "epoch": i,
            "metrics": {"loss": 0.4321, "mAP50": 0.612, "lr": 0.0003},
            "ts": now.timestamp(),
        }
        body = json.dumps(event).encode()
        msg_id = f"msg_{tag}_{uuid.uuid4().hex}"
        head = (
            f"POST /hooks/training HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            f"webhook-id: {msg_id}\r\nwebhook-timestamp: {int(now.timestamp())}\r\n"
            f"webhook-signature: {webhook.sign(msg_id, now, body.decode())}\r\n\r\n"
        )
        out.append(head.encode() + body)
    return out


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def send(self, request: bytes) -> int:
        """One request/response on this keep-alive connection; returns the status."""
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        self.writer.close()


async def closed_loop(port: int, requests: list[bytes], connections: int) -> tuple[float, dict]:
    """Every connection sends its next request as soon as the last one answered."""
    conns = [await Connection.open(port) for _ in range(connections)]
    it = iter(requests)
    statuses: dict[int, int] = {}
    deadline = time.perf_counter() + MAX_PHASE_S

    async def worker(conn: Connection) -> None:
        for request in it:
            status = await conn.send(request)
            statuses[status] = statuses.get(status, 0) + 1
            if time.perf_counter() > deadline:
                return

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in conns))
    elapsed = time.perf_counter() - t0
    for c in conns:
        c.close()
    return sum(statuses.values()) / elapsed, statuses


async def open_loop(
    port: int, requests: list[bytes], rate: float, pool_size: int
) -> tuple[list[float], dict]:
    """Send request i at t0 + i/rate whatever the answers do; latency from that instant."""
    pool: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(pool_size):
        pool.put_nowait(await Connection.open(port))
    latencies: list[float] = []
    statuses: dict[int, int] = {}

    async def one(request: bytes, scheduled: float) -> None:
        conn = await pool.get()
        status = await conn.send(request)
        latencies.append(time.perf_counter() - scheduled)
        statuses[status] = statuses.get(status, 0) + 1
        pool.put_nowait(conn)

    t0 = time.perf_counter() + 0.05
    tasks = []
    for i, request in enumerate(requests):
        scheduled = t0 + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(request, scheduled)))
    await asyncio.gather(*tasks)
    while not pool.empty():
        pool.get_nowait().close()
    return latencies, statuses


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def inbox_rows(state: Path) -> int:
    conn = sqlite3.connect(state / "service.sqlite")
    try:
        return int(conn.execute("SELECT count(*) FROM inbox").fetchone()[0])
    finally:
        conn.close()


async def measure(args: argparse.Namespace, servers: dict[str, Server], secret: str) -> int:
    accepted = 0
    rates: dict[str, list[float]] = {"bare": [], "real": []}
    print(f"throughput: {args.connections} connections, {args.events} events per run")
    for r in range(args.rounds):
        order = ("bare", "real") if r % 2 == 0 else ("real", "bare")
        for kind in order:
            port = servers[kind].port
            reqs = signed_requests(port, secret, args.events, f"t{r}{kind}")
            rate, statuses = await closed_loop(port, reqs, args.connections)
            rates[kind].append(rate)
            accepted += statuses.get(202, 0) if kind == "real" else 0
            print(f"  round {r + 1} {kind:<5} {rate:8.0f} events/s  statuses {statuses}")
    bare, real = statistics.median(rates["bare"]), statistics.median(rates["real"])
    print(f"median: bare {bare:.0f} events/s, real {real:.0f} events/s")
    print(f"ratio real/bare: {real / bare:.2f}  (target >= 0.5)")

    count = int(args.rate * args.seconds)
    print(f"\nlatency at an offered {args.rate:.0f} events/s for {args.seconds:.0f} s:")
    for kind in ("bare", "real"):
        port = servers[kind].port
        reqs = signed_requests(port, secret, count, f"l{kind}")
        lat, statuses = await open_loop(port, reqs, args.rate, args.connections)
        accepted += statuses.get(202, 0) if kind == "real" else 0
        ms = [x * 1000 for x in lat]
        print(
            f"  {kind:<5} p50 {quantile(ms, 0.5):6.2f} ms  p99 {quantile(ms, 0.99):6.2f} ms"
            f"  max {max(ms):7.2f} ms  statuses {statuses}"
        )
    print("  target: real p99 < 25 ms")
    return accepted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--events", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--serve", choices=("real", "bare"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--state", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--secret", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.state, args.secret, args.profile)
        return

    from agent.settings import new_webhook_secret

    secret = new_webhook_secret()
    print(f"cpus: {os.cpu_count()}, load average: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        servers = {
            "bare": Server.start("bare", state, secret),
            "real": Server.start("real", state, secret, profile=args.profile),
        }
        try:
            accepted = asyncio.run(measure(args, servers, secret))
        finally:
            for server in servers.values():
                server.stop()
        rows = inbox_rows(state)
        verdict = "ok" if rows == accepted else "MISMATCH"
        print(f"\ninbox rows {rows}, events answered 202 {accepted}: {verdict}")


if __name__ == "__main__":
    main()
