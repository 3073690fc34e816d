"""On a machine with NVIDIA GPUs: the local backend finds them, and a job sees only its own.

Runs where `nvidia-smi` exists (the project's GPU machines); elsewhere it is
skipped, and test_local_queue.py proves the same bookkeeping with
MLOPS_LOCAL_GPUS. Each job asks the CUDA driver itself how many devices it can
see, so this checks what a training process would get, not our own record.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.skill_env import SkillEnvironment
from mcp_servers.aiqu.backends.base import JobSpec
from mcp_servers.aiqu.backends.local import LocalScheduler
from mcp_servers.aiqu.backends.processes import detect_gpus

pytestmark = pytest.mark.skipif(
    shutil.which("nvidia-smi") is None,
    reason="needs an NVIDIA GPU and nvidia-smi (runs on the project's GPU machines)",
)

# What the CUDA driver shows this process: the device count after cuInit (0 when hidden).
CUDA_DEVICE_COUNT = """
import ctypes
cuda = ctypes.CDLL("libcuda.so.1")
count = ctypes.c_int(0)
if cuda.cuInit(0) == 0:
    cuda.cuDeviceGetCount(ctypes.byref(count))
print(count.value)
"""


def listed_gpus() -> int:
    out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30).stdout
    return sum(1 for line in out.splitlines() if line.startswith("GPU "))


def test_gpus_are_counted_with_nvidia_smi(tmp_path: Path):
    total = listed_gpus()
    assert total >= 1
    assert detect_gpus() == total
    with LocalScheduler.from_env(SkillEnvironment(state_dir=tmp_path)) as scheduler:
        assert scheduler.gpu_total() == total


def test_each_job_sees_only_the_gpus_it_was_given(tmp_path: Path):
    total = detect_gpus()
    command = [sys.executable, "-c", CUDA_DEVICE_COUNT]
    with LocalScheduler(tmp_path, total, poll_interval_s=0.05) as scheduler:
        jobs = {
            wanted: scheduler.submit(JobSpec(name=f"gpu/{wanted}", command=command, gpus=wanted))
            for wanted in sorted({0, 1, total})
        }
        deadline = time.monotonic() + 120
        try:
            while any(scheduler.get(j.id).state.active for j in jobs.values()):
                assert time.monotonic() < deadline, "GPU jobs did not finish in 120 s"
                time.sleep(0.1)
        finally:
            for job in jobs.values():
                if scheduler.get(job.id).state.active:
                    scheduler.cancel(job.id)
        seen = {wanted: scheduler.logs(job.id) for wanted, job in jobs.items()}
    assert seen == {wanted: str(wanted) for wanted in jobs}
