"""The datasets skill's injected client: the store on disk, `<root>/<dataset>/<version>/`.

Read and never written. It resolves names inside the root, finds a version's
layout and class names, reads its optional manifest and scans it. There is
deliberately no method that writes.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

import yaml

from core.skill_env import SkillEnvironment
from mcp_servers.datasets.coco import annotation_files, load_coco
from mcp_servers.datasets.errors import DatasetError
from mcp_servers.datasets.issues import IssueLog
from mcp_servers.datasets.paths import is_inside, read_bytes, resolve_child
from mcp_servers.datasets.scan import Layout, VersionScan, cross_check, scan_images
from mcp_servers.datasets.settings import DatasetsSettings
from mcp_servers.datasets.yolo import scan_yolo_labels

_SMALL_FILE = 1 << 20  # data.yaml, classes.txt and manifests are read up to 1 MiB
_MANIFESTS = ("manifest.json", "manifest.yaml", "manifest.yml")
_NAMED_IN_ERRORS = 20


class DatasetStore:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = os.path.abspath(root)

    @classmethod
    def from_env(cls, env: SkillEnvironment) -> DatasetStore:
        """MLOPS_DATASETS_ROOT, else $MLOPS_STATE_DIR/datasets, else state/datasets."""
        return cls(DatasetsSettings.from_env(env).root)

    def real_root(self) -> str:
        real = os.path.realpath(self.root)
        if os.path.exists(real) and not os.path.isdir(real):
            raise DatasetError(
                f"the datasets root {self.root} is not a folder; point MLOPS_DATASETS_ROOT "
                "at the folder that holds <dataset>/<version>/"
            )
        if not os.path.isdir(real):
            raise DatasetError(
                f"the datasets root {self.root} does not exist; put datasets under "
                "<root>/<dataset>/<version>/ or point MLOPS_DATASETS_ROOT at the team's store"
            )
        return real

    def dataset_names(self) -> list[str]:
        return _subfolders(self.real_root(), self.real_root())

    def version_names(self, dataset: str) -> list[str]:
        return _subfolders(self.dataset_dir(dataset), self.real_root())

    def dataset_dir(self, dataset: str) -> str:
        real_root = self.real_root()
        path = resolve_child(real_root, dataset, real_root, "dataset")
        if not os.path.isdir(path):
            raise DatasetError(
                f"unknown dataset {dataset!r}; datasets: {_some(self.dataset_names())}"
            )
        return path

    def version_dir(self, dataset: str, version: str) -> str:
        parent = self.dataset_dir(dataset)
        path = resolve_child(parent, version, self.real_root(), "version")
        if not os.path.isdir(path):
            raise DatasetError(
                f"unknown version {version!r} of {dataset!r}; "
                f"versions: {_some(self.version_names(dataset))}"
            )
        return path

    def layout(self, version_dir: str) -> Layout:
        """COCO when annotations/ holds JSON, YOLO when labels/ exists, else unlabelled."""
        annotations = os.path.join(version_dir, "annotations")
        if os.path.isdir(annotations):
            with os.scandir(annotations) as it:
                if any(e.name.endswith(".json") for e in it):
                    return "coco"
        if os.path.isdir(os.path.join(version_dir, "labels")):
            return "yolo"
        return "unlabelled"

    def scan(self, dataset: str, version: str) -> VersionScan:
        """One pass over a version: images, labels, class counts and every problem found."""
        real_root = self.real_root()
        version_dir = self.version_dir(dataset, version)
        layout = self.layout(version_dir)
        scan = VersionScan(layout=layout, class_names={}, class_names_source=None)
        scan_images(scan, version_dir, real_root)
        if layout == "coco":
            load_coco(scan, annotation_files(version_dir, real_root, scan))
        elif layout == "yolo":
            refused = scan.issue("symlinks_outside_root")
            names, source = _yolo_class_names(version_dir, real_root, refused)
            scan.class_names, scan.class_names_source = names, source
            scan.kpt_shape = _yolo_kpt_shape(version_dir, real_root)
            scan_yolo_labels(scan, version_dir, real_root)
        cross_check(scan)
        return scan

    def manifest(self, version_dir: str) -> tuple[dict[str, Any], str | None]:
        """The version's manifest as a mapping (empty if none) and a problem, if any."""
        real_root = self.real_root()
        for name in _MANIFESTS:
            try:
                data = _read_inside(version_dir, name, real_root)
            except DatasetError as exc:
                return {}, str(exc)
            if data is None:
                continue
            try:
                doc = json.loads(data) if name.endswith(".json") else yaml.safe_load(data)
            except (ValueError, yaml.YAMLError) as exc:
                return {}, f"{name} could not be parsed: {str(exc).splitlines()[0]}"
            if not isinstance(doc, dict):
                return {}, f"{name} is not a mapping of fields"
            return doc, None
        return {}, None


def created_time(version_dir: str, manifest: Mapping[str, Any]) -> str:
    """The manifest's `created`, else the folder's modification time (UTC, ISO 8601)."""
    value = manifest.get("created", manifest.get("created_at"))
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str) and value:
        return value
    mtime = os.stat(version_dir).st_mtime
    return datetime.fromtimestamp(mtime, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def natural_key(name: str) -> list[tuple[int, int, str]]:
    """Sort v2 before v10."""
    return [
        (0, int(part), "") if part.isdigit() else (1, 0, part.lower())
        for part in re.split(r"(\d+)", name)
        if part
    ]


def _subfolders(folder: str, real_root: str) -> list[str]:
    names = []
    with os.scandir(folder) as it:
        for entry in it:
            if entry.name.startswith("."):
                continue
            if entry.is_symlink() and not is_inside(os.path.realpath(entry.path), real_root):
                continue  # not ours to show: it leads outside the store
            if entry.is_dir():
                names.append(entry.name)
    return sorted(names, key=natural_key)


def _some(names: list[str]) -> str:
    if not names:
        return "(none)"
    shown = ", ".join(names[:_NAMED_IN_ERRORS])
    more = len(names) - _NAMED_IN_ERRORS
    return shown + (f" and {more} more" if more > 0 else "")


def _read_inside(folder: str, name: str, real_root: str) -> bytes | None:
    """A small file of the version, or None if absent; refused if it leads outside the root."""
    path = os.path.join(folder, name)
    if not os.path.lexists(path):
        return None
    real = os.path.realpath(path)
    if not is_inside(real, real_root):
        raise DatasetError(f"{name} is a symlink that leads outside the datasets root; not read")
    if not os.path.isfile(real):
        return None
    return read_bytes(real, _SMALL_FILE)


def _yolo_class_names(
    version_dir: str, real_root: str, refused: IssueLog
) -> tuple[dict[int, str], str | None]:
    """Class names from data.yaml `names:` or classes.txt, in the version or its dataset."""
    dataset_dir = os.path.dirname(version_dir)
    candidates = [
        (version_dir, "data.yaml", ""),
        (version_dir, "data.yml", ""),
        (version_dir, "classes.txt", ""),
        (os.path.join(version_dir, "labels"), "classes.txt", "labels/"),
        (dataset_dir, "data.yaml", "../"),
        (dataset_dir, "classes.txt", "../"),
    ]
    for folder, name, shown_prefix in candidates:
        try:
            data = _read_inside(folder, name, real_root)
        except DatasetError:
            refused.add(shown_prefix + name)
            continue
        if data is None:
            continue
        names = _parse_names(name, data)
        if names:
            return names, shown_prefix + name
    return {}, None


def _yolo_kpt_shape(version_dir: str, real_root: str) -> tuple[int, int] | None:
    """data.yaml `kpt_shape: [keypoints, 2 or 3]` (pose labels), in the version or its dataset."""
    for folder in (version_dir, os.path.dirname(version_dir)):
        for name in ("data.yaml", "data.yml"):
            try:
                data = _read_inside(folder, name, real_root)
            except DatasetError:
                continue  # already counted as refused while looking for class names
            if data is None:
                continue
            shape = _yaml_mapping(data).get("kpt_shape")
            if (
                isinstance(shape, list)
                and len(shape) == 2
                and all(isinstance(v, int) and not isinstance(v, bool) for v in shape)
                and shape[0] >= 1
                and shape[1] in (2, 3)
            ):
                return shape[0], shape[1]
            return None
    return None


def _yaml_mapping(data: bytes) -> dict[Any, Any]:
    try:
        doc = yaml.load(data, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _parse_names(file_name: str, data: bytes) -> dict[int, str]:
    if file_name.endswith(".txt"):
        lines = data.decode("utf-8", "replace").splitlines()
        return {i: line.strip() for i, line in enumerate(lines) if line.strip()}
    names = _yaml_mapping(data).get("names")
    if isinstance(names, list):
        return {i: str(n) for i, n in enumerate(names)}
    if isinstance(names, dict):
        return {int(k): str(v) for k, v in names.items() if str(k).lstrip("-").isdigit()}
    return {}
