"""A Ray head for the tests, alone in a network namespace, its dashboard relayed to loopback.

    unshare --net -- python -I launch.py --listen-fd N --ray BIN --temp-dir DIR [--gpus 2]

Ray 2.60 binds its GCS, raylet and client server to every interface and swaps
127.0.0.1 for the machine's address, whatever `--node-ip-address` says. In a
namespace of its own with only `lo` up it stays on 127.0.0.1 and nothing outside
can reach it. The one door is this process: it accepts on a socket the test
process bound to 127.0.0.1 in the machine's namespace (inherited as fd N) and
carries each connection to the dashboard inside. Standard library only.

It runs `ray start --head --block`, stops it on SIGTERM (Ray stops the whole head
and its jobs' process groups) and removes the temp dir, and arms the parent-death
signal so a test run that is killed takes the head along.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import shutil
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

DASHBOARD_PORT = 8265  # the namespace is private: fixed ports cannot clash
GCS_PORT = 6379
STOP_WAIT_S = 60.0


def main() -> int:
    args = parse()
    _die_with_parent()
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    temp = Path(args.temp_dir)
    with open(temp / "ray-start.log", "ab") as log:
        head = subprocess.Popen(
            [
                args.ray,
                "start",
                "--head",
                "--block",
                "--node-ip-address=127.0.0.1",
                "--dashboard-host=127.0.0.1",
                f"--port={GCS_PORT}",
                f"--dashboard-port={DASHBOARD_PORT}",
                f"--num-cpus={args.cpus}",
                f"--num-gpus={args.gpus}",
                f"--temp-dir={temp / 'ray'}",
            ],  # fmt: skip
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    stopping = threading.Event()

    def stop(signum: int, frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    listener = socket.socket(fileno=args.listen_fd)
    threading.Thread(target=serve, args=(listener,), daemon=True).start()
    while not stopping.wait(0.5):
        if head.poll() is not None:  # Ray died by itself: nothing left to relay to
            print(f"ray start exited with {head.returncode}", file=sys.stderr, flush=True)
            return 1
    head.terminate()
    try:
        head.wait(STOP_WAIT_S)
    except subprocess.TimeoutExpired:
        head.kill()
        head.wait()
    # Also when the test run was killed (the parent-death signal): nothing is left behind.
    shutil.rmtree(temp, ignore_errors=True)
    return 0


def serve(listener: socket.socket) -> None:
    while True:
        try:
            outside, _ = listener.accept()
        except OSError:
            return
        threading.Thread(target=relay, args=(outside,), daemon=True).start()


def relay(outside: socket.socket) -> None:
    try:
        inside = socket.create_connection(("127.0.0.1", DASHBOARD_PORT), timeout=30)
    except OSError:
        outside.close()
        return
    inside.settimeout(None)
    back = threading.Thread(target=pump, args=(inside, outside), daemon=True)
    back.start()
    pump(outside, inside)
    back.join()
    inside.close()
    outside.close()


def pump(source: socket.socket, sink: socket.socket) -> None:
    """Copy until end of file, then pass the half-close on (HTTP keep-alive needs both ways)."""
    try:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
            sink.shutdown(socket.SHUT_WR)
    finally:
        with contextlib.suppress(OSError):
            source.shutdown(socket.SHUT_RD)


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen-fd", type=int, required=True)
    parser.add_argument("--ray", required=True)
    parser.add_argument("--temp-dir", required=True)
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--gpus", type=int, default=2)
    return parser.parse_args()


def _die_with_parent() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


if __name__ == "__main__":
    sys.exit(main())
