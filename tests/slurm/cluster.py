"""A real single-node Slurm (munge, slurmctld, slurmd from Debian) in a podman container.

One container per cluster, from the image of the Slurm release asked for
(22.05 from bookworm, 24.11 from trixie; `images.py` builds each once per
machine). It has no network but its own loopback, so daemons that listen on
0.0.0.0 reach nobody. Client commands run on the host inside the container's
mount and network namespaces (`nsenter`, the backend's command prefix): they
are the container's own Slurm commands, matching its daemons, and they keep
the caller's environment, as `sbatch --export=ALL` needs. Every path the
cluster uses (config, state, spool, logs) lives in one temp dir mounted at the
same path inside, beside the directories the caller shares with its jobs, so a
path means the same on both sides. Two fake GPUs are empty files named in
gres.conf. The container is removed on stop, and removes itself after
`LIFETIME_S` if a run is killed before it can.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from tests.slurm.images import ACCOUNTING_IMAGES, IMAGES, ensure_image
from tests.slurm.podman import PodmanError, podman

HOST = "slurmnode"
LIFETIME_S = 3600
CPUS = 16  # more than the machine has, so CPUs never limit the tests: GPUs do
ROOT = Path(__file__).resolve().parents[2]
JOBCOMP_SCRIPT = ROOT / "mcp_servers/aiqu/backends/slurm_jobcomp.sh"
# Where the shipped jobcomp script writes; mounted from the cluster's temp dir.
SCRIPT_LOG_DIR = "/var/log/slurm"

SLURM_CONF = """\
ClusterName=mlopstest
SlurmctldHost={host}
AuthType=auth/munge
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
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# Without a default, each job takes all memory and jobs run one at a time.
DefMemPerCPU=500
GresTypes=gpu
{accounting}
{jobcomp}
MinJobAge={min_job_age}
ReturnToService=2
# Jobs start within a second instead of ~3 s.
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
# With only a loopback, Slurm resolves its host only when IPv6 is allowed too.
CommunicationParameters=EnableIPv6
# config_overrides: slurmd accepts more CPUs than the machine has.
SlurmdParameters=config_overrides
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory=8000 Gres=gpu:fake:{gpus} State=UNKNOWN
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""

# munged refuses to run as root; with every capability dropped but these, root
# may still chown /run/munge (after making it searchable) and switch users.
ENTRYPOINT = """\
#!/bin/sh
set -e
mkdir -p /run/munge
chmod 755 /run/munge
chown munge:munge /run/munge
setpriv --reuid=munge --regid=munge --clear-groups munged
{before_slurmctld}
slurmctld -D &
exec timeout -s KILL {lifetime} slurmd -D
"""
CAPABILITIES = "CHOWN,SETUID,SETGID,KILL"

NO_ACCOUNTING = "AccountingStorageType=accounting_storage/none"
ACCOUNTING = """\
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost={host}
# Allocated GPUs in tres_alloc_str and sacct, typed and untyped.
AccountingStorageTRES=gres/gpu,gres/gpu:fake"""
SLURMDBD_CONF = """\
AuthType=auth/munge
DbdHost={host}
SlurmUser=root
StorageType=accounting_storage/mysql
StorageUser=root
StorageLoc=slurm_acct_db
LogFile={root}/log/slurmdbd.log
PidFile={root}/run/slurmdbd.pid
"""
START_SLURMDBD = """\
while [ ! -S /run/mysqld/mysqld.sock ]; do sleep 0.2; done
slurmdbd
until sacctmgr --noheader list cluster format=cluster | grep -q mlopstest; do
    sacctmgr --immediate add cluster mlopstest >/dev/null 2>&1 || sleep 0.5
done"""


@dataclass
class SlurmCluster:
    version: str  # "22.05" / "24.11"
    root: Path
    conf: Path
    container: str
    pid: int  # the container's init, seen from the host
    jobcomp: str  # "filetxt" or "script"

    @property
    def command_prefix(self) -> list[str]:
        return ["nsenter", f"--target={self.pid}", "--mount", "--net"]

    @property
    def jobcomp_log(self) -> Path:
        """The job completion log on the host, whichever jobcomp plugin writes it."""
        if self.jobcomp == "script":
            return self.root / "slurm-log" / "jobcomp-aiqu.txt"
        return self.root / "log" / "jobcomp.txt"

    def env(self) -> dict[str, str]:
        """The settings a SlurmScheduler needs to reach this cluster."""
        env = {
            "SLURM_CONF": str(self.conf),
            "MLOPS_SLURM_COMMAND_PREFIX": " ".join(self.command_prefix),
        }
        if self.jobcomp == "script":  # the script's log is at another path on this side
            env["MLOPS_SLURM_JOBCOMP_LOG"] = str(self.jobcomp_log)
        return env

    def run(self, *args: str, timeout: float = 15.0) -> subprocess.CompletedProcess[str]:
        """A Slurm client command inside the cluster's namespaces."""
        return subprocess.run(
            [*self.command_prefix, *args],
            env={**os.environ, "SLURM_CONF": str(self.conf)},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def stop(self) -> None:
        """Remove the container (every daemon and job in it dies with it), then rm -rf."""
        try:
            podman("rm", "--force", "--time=0", self.container, check=False, timeout=60)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def start_cluster(
    version: str,
    *,
    gpus: int = 2,
    min_job_age_s: int = 300,
    shared: Iterable[Path] = (),
    jobcomp: str = "filetxt",
    accounting_db: Path | None = None,
    network: str = "none",
    cpus: int = CPUS,
    timeout_s: float = 30,
) -> SlurmCluster:
    """Start Slurm `version` with `gpus` fake GPUs; return once its node is idle.

    `shared` directories appear at the same path inside (job workdirs, logs);
    `jobcomp` is "filetxt" (Slurm's own text log) or "script" (the skill's
    jobcomp/script, mcp_servers/aiqu/backends/slurm_jobcomp.sh).
    `accounting_db`, a directory holding a MariaDB server's socket, adds
    slurmdbd (the capture script's use; slurmdbd needs `network` to be a
    private network rather than none)."""
    image = IMAGES[version] if accounting_db is None else ACCOUNTING_IMAGES[version]
    tag = ensure_image(image)
    root = Path(tempfile.mkdtemp(prefix="mlops-slurm-"))
    root.chmod(0o755)
    for sub in ("state", "spool", "log", "run", "dev", "slurm-log"):
        (root / sub).mkdir()
    for i in range(gpus):
        (root / "dev" / f"gpu{i}").touch()
    conf = root / "slurm.conf"
    conf.write_text(
        SLURM_CONF.format(
            host=HOST,
            root=root,
            gpus=gpus,
            cpus=cpus,
            min_job_age=min_job_age_s,
            jobcomp=_jobcomp_lines(jobcomp, root),
            accounting=NO_ACCOUNTING if accounting_db is None else ACCOUNTING.format(host=HOST),
        )
    )
    # gres.conf is read from beside slurm.conf; without File= the node is INVALID.
    last = f"[0-{gpus - 1}]" if gpus > 1 else "0"
    (root / "gres.conf").write_text(
        f"NodeName={HOST} Name=gpu Type=fake File={root}/dev/gpu{last}\n"
    )
    before_slurmctld = ""
    if accounting_db is not None:
        (root / "slurmdbd.conf").write_text(SLURMDBD_CONF.format(host=HOST, root=root))
        (root / "slurmdbd.conf").chmod(0o600)  # slurmdbd refuses a readable one
        before_slurmctld = START_SLURMDBD
    (root / "entrypoint.sh").write_text(
        ENTRYPOINT.format(lifetime=LIFETIME_S, before_slurmctld=before_slurmctld)
    )
    name = f"mlops-slurm-{version.replace('.', '')}-{secrets.token_hex(4)}"
    mounts = [f"--volume={d}:{d}" for d in dict.fromkeys([root, *map(Path, shared)])]
    mounts.append(f"--volume={root / 'slurm-log'}:{SCRIPT_LOG_DIR}")
    if jobcomp == "script":
        mounts.append(f"--volume={JOBCOMP_SCRIPT}:{JOBCOMP_SCRIPT}:ro")
    if accounting_db is not None:
        mounts.append(f"--volume={accounting_db}:/run/mysqld")
    try:
        podman(
            "run", "--detach", "--rm", f"--name={name}", f"--hostname={HOST}",
            f"--network={network}", "--ulimit=host", "--cap-drop=all", f"--cap-add={CAPABILITIES}",
            *mounts, f"--env=SLURM_CONF={conf}",
            tag, "tini", "--", "sh", str(root / "entrypoint.sh"),
        )  # fmt: skip
        pid = int(podman("inspect", "--format={{.State.Pid}}", name).strip())
    except (PodmanError, ValueError):
        podman("rm", "--force", "--time=0", name, check=False)
        shutil.rmtree(root, ignore_errors=True)
        raise
    cluster = SlurmCluster(version, root, conf, name, pid, jobcomp)
    try:
        _wait_for(cluster, lambda: "is UP" in cluster.run("scontrol", "ping").stdout, timeout_s)
        _wait_for(cluster, lambda: _node_state(cluster) == "idle", timeout_s)
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _jobcomp_lines(jobcomp: str, root: Path) -> str:
    if jobcomp == "filetxt":
        return f"JobCompType=jobcomp/filetxt\nJobCompLoc={root}/log/jobcomp.txt"
    if jobcomp == "script":
        return f"JobCompType=jobcomp/script\nJobCompLoc={JOBCOMP_SCRIPT}"
    raise ValueError(f"jobcomp must be 'filetxt' or 'script', got {jobcomp!r}")


def _node_state(cluster: SlurmCluster) -> str:
    return cluster.run("sinfo", "-h", "-N", "-o", "%T").stdout.strip()


def _wait_for(cluster: SlurmCluster, ready: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():
        if not Path(f"/proc/{cluster.pid}").exists():
            raise RuntimeError(f"container {cluster.container} exited\n{_log_tails(cluster.root)}")
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"Slurm {cluster.version} not ready after {timeout_s} s\n{_log_tails(cluster.root)}"
            )
        time.sleep(0.05)


def _log_tails(root: Path, lines: int = 15) -> str:
    """The ends of the daemons' logs: the temp dir is removed when a start fails."""
    parts = []
    for log in sorted((root / "log").glob("*")):
        text = log.read_text(errors="replace").splitlines()[-lines:]
        parts.append(f"--- {log.name}\n" + "\n".join(text))
    return "\n".join(parts)
