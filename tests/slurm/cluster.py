"""A real single-node Slurm (Debian's munge, slurmctld, slurmd) for tests and benchmarks.

Slurm's daemons listen on 0.0.0.0 and cannot be told otherwise, so they run
inside a private network namespace held open by a `sleep` started with
`unshare --net`; client commands reach them through `nsenter --net=...` (the
backend's command prefix). munged only serves a unix socket, so it runs
outside the namespace, as the `munge` user it insists on. Every path (state,
spool, logs, pid files, munge socket and key) lives in one temp dir removed on
stop. Two fake GPUs are empty files named in gres.conf.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "scancel", "sinfo")
NAMESPACE_TOOLS = ("unshare", "nsenter", "ip")
# A non-loopback address on the namespace's lo: Slurm 22.05 fails to resolve
# its own host when only 127/8 exists. 198.18.0.0/15 is reserved for benchmarks.
HOST_ADDRESS = "198.18.0.1/32"
HOLDER_LIFETIME_S = 3600
CPUS = 16  # the namespace holder dies on its own if a run is killed

SLURM_CONF = """\
ClusterName=mlopstest
SlurmctldHost={host}(127.0.0.1)
AuthType=auth/munge
AuthInfo=socket={root}/munge/munge.sock
CryptoType=crypto/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/run/slurmctld.pid
SlurmdPidFile={root}/run/slurmd.pid
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd.log
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# Without a default, each job takes all memory and jobs run one at a time.
DefMemPerCPU=500
GresTypes=gpu
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc={root}/log/jobcomp.txt
MinJobAge={min_job_age}
ReturnToService=2
SchedulerParameters=sched_interval=1,batch_sched_delay=0
# More CPUs than the machine has, so CPUs never limit the tests: GPUs do. Sleeping
# test jobs need none, and config_overrides makes slurmd accept the number.
SlurmdParameters=config_overrides
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory=8000 Gres=gpu:fake:{gpus} State=UNKNOWN
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


def missing_requirements() -> str | None:
    """Why a real Slurm cannot start here, or None when it can."""
    if os.geteuid() != 0:
        return "real Slurm tests need root (network namespace, SlurmUser=root); run as root"
    missing = [tool for tool in DAEMONS + NAMESPACE_TOOLS if shutil.which(tool) is None]
    if missing:
        return (
            f"Slurm packages missing ({', '.join(missing)}): "
            "run scripts/install-system-packages.sh as root"
        )
    return None


@dataclass
class SlurmCluster:
    root: Path
    conf: Path
    jobcomp_log: Path
    _processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def holder_pid(self) -> int:
        return self._processes[0].pid

    @property
    def command_prefix(self) -> list[str]:
        return ["nsenter", f"--net=/proc/{self.holder_pid}/ns/net"]

    def env(self) -> dict[str, str]:
        """The settings a SlurmScheduler needs to reach this cluster."""
        return {
            "SLURM_CONF": str(self.conf),
            "MLOPS_SLURM_COMMAND_PREFIX": shlex.join(self.command_prefix),
        }

    def run(self, *args: str, timeout: float = 15.0) -> subprocess.CompletedProcess[str]:
        """A Slurm client command inside the cluster's namespace."""
        return subprocess.run(
            [*self.command_prefix, *args],
            env={**os.environ, "SLURM_CONF": str(self.conf)},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def stop(self) -> None:
        """Cancel every job, stop the daemons, kill what is left in the namespace, rm -rf."""
        if self._processes and self._processes[0].poll() is None:
            netns = os.readlink(f"/proc/{self.holder_pid}/ns/net")
            self._cancel_all_jobs()
        else:
            netns = None
        # One at a time, newest first: slurmctld stalls its shutdown when munged is gone.
        for proc in reversed(self._processes):
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        self._processes.clear()
        if netns is not None:
            _kill_namespace_members(netns)  # job steps (slurmstepd) outlive slurmd
        shutil.rmtree(self.root, ignore_errors=True)

    def _cancel_all_jobs(self) -> None:
        try:
            self.run("scancel", "--user=root", timeout=10)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and self.run("squeue", "-h", "-t", "active").stdout:
                time.sleep(0.1)
        except (OSError, subprocess.TimeoutExpired):
            pass  # the daemons may already be gone; the namespace sweep follows


def start_cluster(
    *, gpus: int = 2, min_job_age_s: int = 300, timeout_s: float = 30
) -> SlurmCluster:
    """Start munged, slurmctld and slurmd; return once the node is idle."""
    # Not under pytest's tmp_path: munged needs every parent dir searchable by `munge`.
    root = Path(tempfile.mkdtemp(prefix="mlops-slurm-"))
    root.chmod(0o755)
    for sub in ("state", "spool", "log", "run", "dev"):
        (root / sub).mkdir()
    for i in range(gpus):
        (root / "dev" / f"gpu{i}").touch()
    host = socket.gethostname().split(".")[0]
    conf = root / "slurm.conf"
    conf.write_text(
        SLURM_CONF.format(host=host, root=root, gpus=gpus, cpus=CPUS, min_job_age=min_job_age_s)
    )
    # gres.conf is read from beside slurm.conf; without File= the node is INVALID.
    last = f"[0-{gpus - 1}]" if gpus > 1 else "0"
    (root / "gres.conf").write_text(
        f"NodeName={host} Name=gpu Type=fake File={root}/dev/gpu{last}\n"
    )
    cluster = SlurmCluster(root=root, conf=conf, jobcomp_log=root / "log/jobcomp.txt")
    try:
        _start_namespace(cluster)
        _start_munge(cluster)
        for daemon in ("slurmctld", "slurmd"):
            cluster._processes.append(
                _spawn([*cluster.command_prefix, daemon, "-D"], root / f"log/{daemon}.out", conf)
            )
        _wait_for(cluster, lambda: "is UP" in cluster.run("scontrol", "ping").stdout, timeout_s)
        _wait_for(cluster, lambda: _node_state(cluster) == "idle", timeout_s)
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _start_namespace(cluster: SlurmCluster) -> None:
    holder = subprocess.Popen(
        ["unshare", "--net", "--", "sleep", str(HOLDER_LIFETIME_S)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
    )
    cluster._processes.append(holder)
    netns = f"--net=/proc/{holder.pid}/ns/net"
    # unshare execs sleep once the namespace exists; wait for that switch.
    deadline = time.monotonic() + 5
    while os.readlink(f"/proc/{holder.pid}/ns/net") == os.readlink("/proc/self/ns/net"):
        if time.monotonic() > deadline or holder.poll() is not None:
            raise RuntimeError("unshare --net did not create a network namespace")
        time.sleep(0.01)
    for cmd in (
        ["ip", "link", "set", "lo", "up"],
        ["ip", "addr", "add", HOST_ADDRESS, "dev", "lo"],
    ):
        subprocess.run(["nsenter", netns, *cmd], check=True, timeout=10, capture_output=True)


def _start_munge(cluster: SlurmCluster) -> None:
    munge = cluster.root / "munge"
    munge.mkdir(mode=0o755)
    key = munge / "munge.key"
    key.write_bytes(os.urandom(128))
    key.chmod(0o400)
    for path in (munge, key):
        shutil.chown(path, "munge", "munge")
    with open(cluster.root / "log/munged.out", "wb") as out:
        proc = subprocess.Popen(
            [
                "munged",
                "--foreground",
                f"--socket={munge}/munge.sock",
                f"--key-file={key}",
                f"--pid-file={munge}/munged.pid",
                f"--log-file={munge}/munged.log",
                f"--seed-file={munge}/munged.seed",
            ],
            user="munge",
            group="munge",
            extra_groups=[],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    cluster._processes.append(proc)
    _wait_for(cluster, lambda: (munge / "munge.sock").exists(), 10)


def _spawn(argv: list[str], log: Path, conf: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen(
            argv,
            env={**os.environ, "SLURM_CONF": str(conf)},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _kill_namespace_members(netns: str) -> None:
    """SIGKILL every process still inside the cluster's network namespace (all started here)."""
    own = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == own:
            continue
        try:
            if os.readlink(entry / "ns/net") == netns:
                os.kill(int(entry.name), signal.SIGKILL)
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue


def _node_state(cluster: SlurmCluster) -> str:
    return cluster.run("sinfo", "-h", "-N", "-o", "%T").stdout.strip()


def _wait_for(cluster: SlurmCluster, ready: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():
        for proc in cluster._processes:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"{proc.args!r} exited with {proc.returncode}\n{_log_tails(cluster.root)}"
                )
        if time.monotonic() > deadline:
            raise TimeoutError(f"Slurm not ready after {timeout_s} s\n{_log_tails(cluster.root)}")
        time.sleep(0.05)


def _log_tails(root: Path, lines: int = 15) -> str:
    """The ends of the daemons' logs: the temp dir is removed when a start fails."""
    parts = []
    for log in sorted((root / "log").glob("*")):
        text = log.read_text(errors="replace").splitlines()[-lines:]
        parts.append(f"--- {log.name}\n" + "\n".join(text))
    return "\n".join(parts)
