"""What the image holds: the service only (no test dependency, no torch), under its size budget."""

from __future__ import annotations

import json
import tomllib

import pytest

from tests.conftest import ROOT
from tests.container.conftest import Image, figure
from tests.container.engine import Engine

pytestmark = pytest.mark.container

# 1,200 MB until the embedded model's runtime came in (xllamacpp, llama.cpp's server: 102 MB):
# the image runs the embedded model from weights on a volume.
BUDGET_MB = 1300

# Names of the distributions installed in the image and of those something there requires
# (markers evaluated as installed, extras off): a test dependency may be inside only as
# the service's own dependency (anyio, pillow, …).
INVENTORY = """
import importlib.metadata as md, json
from pip._vendor.packaging.requirements import Requirement
from pip._vendor.packaging.utils import canonicalize_name
installed, required = set(), set()
for dist in md.distributions():
    installed.add(canonicalize_name(dist.metadata["Name"]))
    for line in dist.requires or []:
        req = Requirement(line)
        if req.marker is None or req.marker.evaluate({"extra": ""}):
            required.add(canonicalize_name(req.name))
print(json.dumps({"installed": sorted(installed), "required": sorted(required)}))
"""


def in_image(engine: Engine, image: Image, *command: str) -> str:
    return engine.output(
        "run", "--rm", "--network", "none", "--entrypoint", command[0], image.tag, *command[1:]
    )


def canonical(requirement: str) -> str:
    name = requirement.split(";")[0]
    for stop in "[<>=!~ ":
        name = name.split(stop)[0]
    return name.strip().lower().replace("_", "-").replace(".", "-")


def test_the_image_is_under_its_size_budget(image: Image) -> None:
    assert image.size_mb < BUDGET_MB, f"{image.size_mb:.0f} MB, budget {BUDGET_MB} MB"


def test_no_test_dependency_or_torch_is_inside(engine: Engine, image: Image) -> None:
    listed = json.loads(in_image(engine, image, "pip", "list", "--format", "json"))
    names = {canonical(p["name"]) for p in listed}
    assert "mlops-agent" in names and "mlflow" in names  # it is the service's venv
    assert "torch" not in names and not [n for n in names if n.startswith("nvidia-")]

    inventory = json.loads(in_image(engine, image, "python3", "-c", INVENTORY))
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    test_extra = {canonical(r) for r in project["optional-dependencies"]["test"]}
    service = {canonical(r) for r in project["optional-dependencies"]["service"]}
    inside = test_extra & set(inventory["installed"])
    unasked = inside - service - set(inventory["required"])
    assert unasked == set(), f"test dependencies in the image: {sorted(unasked)}"


def test_the_image_runs_tini_as_pid_1_as_a_fixed_non_root_user(
    engine: Engine, image: Image
) -> None:
    inspected = json.loads(engine.output("image", "inspect", image.tag))[0]
    config = inspected["Config"]
    assert config["User"] == "10001:10001"
    assert config["Entrypoint"][0] == "/usr/bin/tini"
    assert config["StopSignal"] == "SIGTERM"
    # podman shows the HEALTHCHECK beside the config, docker inside it.
    healthcheck = inspected.get("Healthcheck") or config["Healthcheck"]
    assert "/opt/mlops-agent/healthcheck.py" in healthcheck["Test"]
    assert "/state" in config["Volumes"]


def test_what_fills_the_image_is_reported(engine: Engine, image: Image) -> None:
    sizes = in_image(
        engine,
        image,
        "sh",
        "-c",
        "du -sm /opt/venv /opt/opencode /usr /var; cd /opt/venv/lib/python3.11/site-packages"
        " && du -sm * | sort -rn | head -8",
    )
    rows = [line.split("\t") for line in sizes.splitlines() if "\t" in line]
    assert {"/opt/venv", "/opt/opencode"} <= {path for _, path in rows}
    figure("image contents (MB): " + ", ".join(f"{p} {mb}" for mb, p in rows))
