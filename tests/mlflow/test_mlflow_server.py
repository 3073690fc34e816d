"""agent.service.mlflow_server: one process, start, health, stop (whole group), restart
on the same data."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow import MlflowClient

from agent.service.mlflow_server import MlflowServer, MlflowServerError
from mcp_servers.mlflow.health import health
from tests.conftest import ROOT, free_port


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_health_of_the_running_server(mlflow_server: MlflowServer) -> None:
    ok, message = health(mlflow_server.uri)
    assert ok and message.startswith(f"MLflow at {mlflow_server.uri} healthy (MLflow 3.")


def test_health_of_nothing_listening() -> None:
    uri = f"http://127.0.0.1:{free_port()}"
    ok, message = health(uri)
    assert not ok and message.startswith(f"MLflow at {uri} unreachable: ConnectError")


def test_health_needs_an_http_uri() -> None:
    ok, message = health("sqlite:///x.db")
    assert not ok and "must be an http:// or https:// URL" in message


def test_stop_ends_every_process_and_data_survives_restart(tmp_path: Path) -> None:
    server = MlflowServer(tmp_path).start()
    try:
        assert server.uri.startswith("http://127.0.0.1:")
        MlflowClient(server.uri).create_experiment("kept")
        pgid = server._process.pid  # type: ignore[union-attr]
        members = subprocess.run(["pgrep", "-g", str(pgid)], capture_output=True, text=True)
        assert members.stdout.split() == [str(pgid)]  # one process: no launcher, no worker
    finally:
        server.stop()
    assert not group_alive(pgid)
    assert not health(server.uri)[0]
    with MlflowServer(tmp_path) as again:
        names = [e.name for e in MlflowClient(again.uri).search_experiments()]
    assert "kept" in names
    assert (tmp_path / "mlflow.db").is_file()


def test_a_taken_port_fails_start_with_the_servers_log(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = MlflowServer(tmp_path, port=port, start_timeout_s=60)
        with pytest.raises(MlflowServerError) as err:
            server.start()
    assert "exited with" in str(err.value)
    assert "address already in use" in str(err.value).lower()  # the log tail says why
    assert not server.running


def test_stopping_twice_and_a_never_started_server_is_harmless(tmp_path: Path) -> None:
    server = MlflowServer(tmp_path)
    server.stop()
    server.stop()
    assert not server.running


def listening_addresses(port: int) -> set[str]:
    """Local IPv4/IPv6 addresses (hex, as the kernel writes them) listening on `port`."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(address)
    return found


def test_the_server_listens_on_loopback_only(mlflow_server: MlflowServer) -> None:
    assert listening_addresses(mlflow_server.port) == {"0100007F"}  # 127.0.0.1


def test_skill_without_tracking_uri_fails_at_start_naming_it() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mcp_servers", "mlflow"],
        env={"PATH": os.environ["PATH"]},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "MLFLOW_TRACKING_URI is not set" in done.stderr
    assert done.stdout == ""
