"""Running a tiny real Ultralytics training from the tests, in the venv `make install-yolo`
builds (`.venv-yolo`: Ultralytics, the CPU torch, and the reporter as `pip install .`).

The training is a subprocess of that venv's Python, started in a temporary folder so it
imports the installed reporter, not this checkout's; offline (`YOLO_OFFLINE`, no
auto-install, a config folder of its own holding the font Ultralytics would download).
"""

from __future__ import annotations

import filecmp
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from tests.conftest import ROOT, missing

VENV = ROOT / ".venv-yolo"
PYTHON = VENV / "bin" / "python"
SITE = VENV / "lib" / "python3.11" / "site-packages"
SCRIPT = Path(__file__).with_name("tiny_train.py")
INSTALL = "run `make install-yolo`"


def require_venv() -> None:
    """Skip (fail under MLOPS_TEST_STRICT=1) without the venv; fail if its reporter is an
    older copy than this checkout's (the tests would check code that no longer exists)."""
    if not (VENV / ".installed").exists() or not (SITE / "mlops_reporter").is_dir():
        missing(f"the Ultralytics test venv {VENV.name} is not installed ({INSTALL})")
    opencv = subprocess.run([PYTHON, "-c", "import cv2"], capture_output=True, text=True)
    if opencv.returncode != 0:
        missing(
            "OpenCV cannot load in the Ultralytics venv (Debian packages libgl1 and "
            f"libglib2.0-0: `make install-system`): {opencv.stderr.strip().splitlines()[-1]}"
        )
    sources = sorted(p.name for p in (ROOT / "mlops_reporter").glob("*.py"))
    _, differ, absent = filecmp.cmpfiles(
        ROOT / "mlops_reporter", SITE / "mlops_reporter", sources, shallow=False
    )
    if differ or absent:
        pytest.fail(
            f"{VENV.name} holds an older mlops_reporter ({', '.join(differ + absent)} differ): "
            + INSTALL
        )


def write_dataset(folder: Path, images: int = 4) -> Path:
    """A few 64x64 images, each with one red box and its YOLO label; returns data.yaml."""
    for split in ("train", "val"):
        for i in range(images):
            x, y = 4 + 6 * i, 30 - 5 * i
            picture = Image.new("RGB", (64, 64), (30, 30, 30))
            ImageDraw.Draw(picture).rectangle([x, y, x + 24, y + 20], fill=(220, 40, 40))
            (folder / "images" / split).mkdir(parents=True, exist_ok=True)
            (folder / "labels" / split).mkdir(parents=True, exist_ok=True)
            picture.save(folder / "images" / split / f"{i}.png")
            box = f"0 {(x + 12) / 64:.4f} {(y + 10) / 64:.4f} {24 / 64:.4f} {20 / 64:.4f}\n"
            (folder / "labels" / split / f"{i}.txt").write_text(box)
    data = folder / "data.yaml"
    data.write_text(f"path: {folder}\ntrain: images/train\nval: images/val\nnames:\n  0: defect\n")
    return data


def offline_env(work: Path, **mlops: str) -> dict[str, str]:
    """The process environment for a training: none of ours but `mlops`, Ultralytics offline."""
    config = work / "ultralytics-config"
    font = next(SITE.glob("matplotlib/mpl-data/fonts/ttf/DejaVuSans.ttf"))
    (config / "Ultralytics").mkdir(parents=True, exist_ok=True)
    # Ultralytics downloads Arial.ttf on first use, even offline, unless one is there.
    shutil.copy(font, config / "Ultralytics" / "Arial.ttf")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLOPS_", "YOLO_"))}
    env.update(YOLO_OFFLINE="1", YOLO_AUTOINSTALL="0", YOLO_CONFIG_DIR=str(config), **mlops)
    return env


def train(
    data: Path, work: Path, env: dict[str, str], *args: str, timeout_s: float = 240.0
) -> subprocess.CompletedProcess[str]:
    """`tiny_train.py` in the venv, from `work`; its runs land in `work/runs`."""
    return subprocess.run(
        [str(PYTHON), str(SCRIPT), str(data), str(work / "runs"), *args],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
