"""CI's strict mode: a system component a test needs that is absent fails the run, naming it;
on a developer's machine the same test is skipped with the same reason."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, STRICT_VARIABLE

# One real-Slurm test, run where podman and the image tools cannot be found.
SLURM_TEST = "tests/slurm/test_slurm_backend.py"
RAY_TEST = "tests/ray/test_ray_backend.py::test_doctor_names_the_cluster_its_ray_and_its_gpus"


def run_missing(test: str, strict: bool, **changes: str) -> subprocess.CompletedProcess[str]:
    """Run `test` in a pytest of its own, with the environment changed so that what it needs
    cannot be found."""
    env = {k: v for k, v in os.environ.items() if k != STRICT_VARIABLE}
    env.update(changes)
    if strict:
        env[STRICT_VARIABLE] = "1"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", test],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def run_without_podman(strict: bool) -> subprocess.CompletedProcess[str]:
    # The venv's python, no podman, no runc.
    return run_missing(SLURM_TEST, strict, PATH=str(Path(sys.executable).parent))


def test_under_ci_s_variable_a_missing_podman_fails_the_run_naming_it() -> None:
    run = run_without_podman(strict=True)
    assert run.returncode != 0, run.stdout
    assert "podman" in run.stdout and f"{STRICT_VARIABLE}=1" in run.stdout, run.stdout


def test_without_it_the_same_tests_are_skipped_with_the_reason() -> None:
    run = run_without_podman(strict=False)
    assert run.returncode == 0, run.stdout
    assert "skipped" in run.stdout and "failed" not in run.stdout, run.stdout


def run_without_ray(strict: bool) -> subprocess.CompletedProcess[str]:
    # As where `make install-ray` never built `.venv-ray`.
    return run_missing(RAY_TEST, strict, RAY_TEST_VENV=str(ROOT / "no-such-venv-ray"))


def test_under_ci_s_variable_a_missing_ray_fails_the_run_naming_what_builds_it() -> None:
    run = run_without_ray(strict=True)
    assert run.returncode != 0, run.stdout
    assert "make install-ray" in run.stdout and f"{STRICT_VARIABLE}=1" in run.stdout, run.stdout


def test_without_it_a_missing_ray_skips_the_ray_tests_with_the_reason() -> None:
    run = run_without_ray(strict=False)
    assert run.returncode == 0, run.stdout
    assert "skipped" in run.stdout and "failed" not in run.stdout, run.stdout
