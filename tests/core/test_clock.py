"""The one clock the product's time-based rules read: real, or virtual (an eval's)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.clock import CLOCK_FILE_VARIABLE, Clock
from core.skill_env import SkillEnvironment
from tests.conftest import ROOT


def test_the_real_clock_is_wall_time_and_cannot_be_moved() -> None:
    clock = Clock()
    assert abs(clock.now() - time.time()) < 1
    with pytest.raises(RuntimeError, match="a real clock cannot be moved"):
        clock.advance_to(time.time() + 60)


def test_a_virtual_clock_jumps_forward_flows_on_and_never_goes_back(tmp_path: Path) -> None:
    clock = Clock(tmp_path / "clock")
    assert abs(clock.now() - time.time()) < 1  # no file yet: real time
    later = time.time() + 8 * 3600
    assert abs(clock.advance_to(later) - later) < 1
    reader = Clock(tmp_path / "clock")  # another reader of the same file (a skill, the service)
    first = reader.now()
    assert abs(first - later) < 1
    time.sleep(0.05)
    assert reader.now() > first  # time flows on
    clock.advance_to(time.time())  # "back to now" is ignored
    assert reader.now() > later - 1
    assert [p.name for p in tmp_path.iterdir()] == ["clock"]  # written whole, no partial left


def test_a_skill_process_reads_the_clock_its_environment_names(tmp_path: Path) -> None:
    clock = Clock(tmp_path / "clock")
    moment = clock.advance_to(time.time() + 3 * 86400)
    env = SkillEnvironment(clock_file=clock.file).to_env()
    assert env[CLOCK_FILE_VARIABLE] == str(clock.file)
    assert SkillEnvironment.from_env(env).clock_file == clock.file
    printed = subprocess.run(
        [sys.executable, "-c", "from core.clock import now; print(now())"],
        env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert abs(float(printed) - moment) < 30
