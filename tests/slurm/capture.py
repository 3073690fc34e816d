"""Record what real Slurm daemons print, as fixtures for the adapters' unit tests.

    .venv/bin/python -m tests.slurm.capture [22.05 24.11]      (root, podman; ~1 min warm)

For each version: a cluster with slurmdbd (MariaDB in a second container,
reached through its socket) on a private podman network with no way out
(slurmdbd will not start with only a loopback), a fixed set of jobs — one
that succeeds, one that exits 3, one killed by SIGKILL, one cancelled while
running, two holding a GPU each (typed `--gres`, per-job `--gpus`) and one
pending behind them (`--gpus-per-node`) — and then every JSON document the
backend reads, verbatim, into `tests/slurm/recorded/<version>/`:

- `squeue.json` (plain `squeue --json`), `squeue-all.json` (`--states=all`),
  and on 24.11 `squeue-v0.0.40.json` / `squeue-v0.0.41.json` (its older
  data parsers, as sites pin them with `--json=v0.0.40`);
- `scontrol-job.json` (`scontrol show job <failed> --json`, 23.02+) and
  `scontrol-purged.json` (the same for an id Slurm does not hold);
- `sacct.json` (`sacct --json -j <every id>`), `jobcomp.txt` (filetxt),
  `scontrol-config.txt` (`scontrol show config`, which names the history);
- `jobs.json`: which job id is which scenario, and the Slurm release.

The suite never runs this (slurmdbd needs MariaDB and a network); its output
is committed. Run it again when an image's Slurm changes.
"""

from __future__ import annotations

import json
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tests.slurm.cluster import SlurmCluster, start_cluster
from tests.slurm.images import ACCOUNTING_IMAGES, VERSIONS, ensure_image
from tests.slurm.podman import podman

RECORDED = Path(__file__).resolve().parent / "recorded"
WAIT_S = 60


def capture(version: str) -> Path:
    out = RECORDED / version
    out.mkdir(parents=True, exist_ok=True)
    suffix = secrets.token_hex(4)
    network = f"mlops-slurm-capture-{suffix}"
    db_dir = Path(tempfile.mkdtemp(prefix="mlops-slurm-db-"))
    db_dir.chmod(0o755)
    db = f"mlops-slurm-capture-db-{suffix}"
    podman("network", "create", "--internal", network)
    cluster = None
    try:
        _start_database(db, db_dir)
        cluster = start_cluster(
            version,
            cpus=4,
            accounting_db=db_dir,
            network=network,
            shared=[db_dir],
            timeout_s=90,
        )
        ids = _run_scenario(cluster, db_dir)
        _record(cluster, ids, out)
    finally:
        if cluster is not None:
            cluster.stop()
        podman("rm", "--force", "--time=0", db, check=False)
        podman("network", "rm", network, check=False)
        shutil.rmtree(db_dir, ignore_errors=True)
    return out


def _start_database(name: str, socket_dir: Path) -> None:
    """MariaDB from the bookworm image, on a socket in `socket_dir`, no network at all."""
    data = socket_dir / "data"
    script = (
        f"mariadb-install-db --user=root --datadir={data} --auth-root-authentication-method=normal"
        f" >/dev/null && exec mariadbd --user=root --datadir={data} --skip-networking"
        f" --socket=/run/mysqld/mysqld.sock"
    )
    podman(
        "run", "--detach", "--rm", f"--name={name}", "--network=none", "--ulimit=host",
        f"--volume={socket_dir}:{socket_dir}", f"--volume={socket_dir}:/run/mysqld",
        ensure_image(ACCOUNTING_IMAGES["22.05"]), "sh", "-c", script,
    )  # fmt: skip


def _run_scenario(cluster: SlurmCluster, workdir: Path) -> dict[str, str]:
    def sbatch(name: str, script: str, *extra: str) -> str:
        done = cluster.run(
            "sbatch", "--parsable", f"--job-name={name}", f"--chdir={workdir}",
            f"--output={workdir}/%j.out", *extra, f"--wrap={script}",
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"sbatch {name} failed: {done.stderr}")
        return done.stdout.strip().split(";")[0]

    ids = {
        "ok": sbatch("ok", "true"),
        "fails": sbatch("fails", "echo boom >&2; exit 3"),
        "killed": sbatch("killed", "kill -9 $$"),
    }
    _wait(lambda: all(_state(cluster, i) in ("COMPLETED", "FAILED") for i in ids.values()))
    ids["cancelled"] = sbatch("cancelled", "sleep 300")
    _wait(lambda: _state(cluster, ids["cancelled"]) == "RUNNING")
    cluster.run("scancel", ids["cancelled"])
    _wait(lambda: _state(cluster, ids["cancelled"]) == "CANCELLED")
    ids["typed-gpus"] = sbatch("typed-gpus", "sleep 300", "--gres=gpu:fake:1")
    ids["per-job-gpus"] = sbatch("per-job-gpus", "sleep 300", "--gpus=1")
    _wait(lambda: all(_state(cluster, ids[n]) == "RUNNING" for n in ("typed-gpus", "per-job-gpus")))
    ids["pending-gpu"] = sbatch("pending-gpu", "sleep 300", "--gpus-per-node=1")
    _wait(lambda: _squeue_field(cluster, ids["pending-gpu"], "%r") == "Resources")
    # slurmctld hands job records to slurmdbd in the background.
    every = ",".join(ids.values())
    _wait(lambda: len(cluster.run("sacct", "-nX", "-o", "jobid", "-j", every).stdout.split()) == 7)
    return ids


def _record(cluster: SlurmCluster, ids: dict[str, str], out: Path) -> None:
    modern = cluster.version != "22.05"
    every = ",".join(ids.values())
    commands: dict[str, list[str]] = {
        "squeue.json": ["squeue", "--json"],
        "sacct.json": ["sacct", "--json", "-j", every],
    }
    if modern:
        commands["squeue-all.json"] = ["squeue", "--json", "--states=all"]
        commands["squeue-v0.0.40.json"] = ["squeue", "--json=v0.0.40", "--states=all"]
        commands["squeue-v0.0.41.json"] = ["squeue", "--json=v0.0.41", "--states=all"]
        commands["scontrol-job.json"] = ["scontrol", "show", "job", ids["fails"], "--json"]
        commands["scontrol-purged.json"] = ["scontrol", "show", "job", "999999", "--json"]
    for name, argv in commands.items():
        done = cluster.run(*argv, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr}")
        json.loads(done.stdout)  # a capture that is not JSON must not be committed
        (out / name).write_text(done.stdout)
    shutil.copyfile(cluster.root / "log" / "jobcomp.txt", out / "jobcomp.txt")
    (out / "scontrol-config.txt").write_text(cluster.run("scontrol", "show", "config").stdout)
    release = cluster.run("scontrol", "--version").stdout.split()[-1]
    (out / "jobs.json").write_text(json.dumps({"release": release, "ids": ids}, indent=2) + "\n")


def _state(cluster: SlurmCluster, job_id: str) -> str:
    return _squeue_field(cluster, job_id, "%T")


def _squeue_field(cluster: SlurmCluster, job_id: str, field: str) -> str:
    return cluster.run("squeue", "-h", "-t", "all", "-j", job_id, "-o", field).stdout.strip()


def _wait(ready: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not ready():
        if time.monotonic() > deadline:
            raise TimeoutError(f"capture scenario stuck for {WAIT_S} s")
        time.sleep(0.2)


def main(argv: list[str]) -> None:
    for version in argv or VERSIONS:
        if version not in VERSIONS:
            sys.exit(f"capture: unknown Slurm version {version!r}; known: {', '.join(VERSIONS)}")
        print(f"captured Slurm {version} into {capture(version)}")


if __name__ == "__main__":
    main(sys.argv[1:])
