"""The skill's tools: plain functions over the injected `DatasetStore`.

Each one's docstring and parameter types are what the model reads (`server.py`
only registers them); a parameter is described only where its name and type
leave the model guessing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import Field

from mcp_servers.datasets.errors import DatasetError
from mcp_servers.datasets.imagesize import image_size
from mcp_servers.datasets.issues import EXAMPLES_KEPT
from mcp_servers.datasets.models import (
    ClassChange,
    ClassCount,
    DatasetInfo,
    DatasetList,
    ImageSizes,
    LabelCheck,
    LabelShapes,
    Samples,
    SizeCount,
    VersionDiff,
    VersionInfo,
    VersionStats,
)
from mcp_servers.datasets.scan import ISSUE_NAMES, VersionScan, count_images
from mcp_servers.datasets.skill import DatasetStore, created_time

MAX_CLASSES_SHOWN = 50
MOST_COMMON_SIZES = 8
MAX_EXAMPLES = 20

Dataset = str  # a wrong name is refused with the names there are
Version = str
Examples = Annotated[int, Field(ge=0, le=MAX_EXAMPLES)]


def list_datasets(
    store: DatasetStore, dataset: Dataset | None = None, version: Version | None = None
) -> DatasetList | VersionStats:
    """Datasets and their versions; with both, a version's counts per class, image sizes."""
    # One tool for both (the model reads every tool's schema on every turn).
    if dataset is not None or version is not None:
        if dataset is None or version is None:
            raise DatasetError("give both dataset and version, or neither to list them all")
        return version_stats(store, dataset, version)
    return all_datasets(store)


def all_datasets(store: DatasetStore) -> DatasetList:
    """Every dataset and its versions."""
    real_root = store.real_root()
    datasets = []
    for name in store.dataset_names():
        versions = []
        for version in store.version_names(name):
            version_dir = store.version_dir(name, version)
            manifest, problem = store.manifest(version_dir)
            declared = _declared_images(manifest)
            description = manifest.get("description")
            versions.append(
                VersionInfo(
                    version=version,
                    layout=store.layout(version_dir),
                    images=count_images(version_dir, real_root) if declared is None else declared,
                    images_from="files" if declared is None else "manifest",
                    created=created_time(version_dir, manifest),
                    description=str(description) if description is not None else None,
                    manifest_problem=problem,
                )
            )
        datasets.append(DatasetInfo(name=name, versions=versions))
    return DatasetList(root=store.root, datasets=datasets)


def version_stats(store: DatasetStore, dataset: Dataset, version: Version) -> VersionStats:
    """A version's images and boxes per class, image sizes."""
    scan = store.scan(dataset, version)
    labelled = len(scan.images.keys() & scan.labels.keys())
    classes = [
        ClassCount(
            id=cls,
            name=scan.class_names.get(cls),
            instances=scan.instances[cls],
            images=scan.images_per_class[cls],
        )
        for cls in sorted(scan.class_names.keys() | scan.instances.keys())
    ]
    shown = classes
    if len(classes) > MAX_CLASSES_SHOWN:
        shown = sorted(classes, key=lambda c: -c.instances)[:MAX_CLASSES_SHOWN]
        shown.sort(key=lambda c: c.id)
    return VersionStats(
        dataset=dataset,
        version=version,
        layout=scan.layout,
        class_names_source=scan.class_names_source,
        images=len(scan.images),
        labelled_images=labelled,
        background_images=scan.background,
        unlabelled_images=len(scan.images) - labelled,
        task=scan.task,
        shapes=LabelShapes(
            boxes=scan.shapes["box"], segments=scan.shapes["segment"], poses=scan.shapes["pose"]
        ),
        kpt_shape=list(scan.kpt_shape) if scan.kpt_shape else None,
        instances=sum(scan.instances.values()),
        classes=shown,
        classes_omitted=len(classes) - len(shown),
        image_sizes=_image_sizes(scan),
    )


def diff_versions(
    store: DatasetStore, dataset: Dataset, old_version: str, new_version: str
) -> VersionDiff:
    """Images added, removed, relabelled, and boxes per class, between two versions."""
    if old_version == new_version:
        raise DatasetError(f"old_version and new_version are both {old_version!r}; name two")
    old = store.scan(dataset, old_version)
    new = store.scan(dataset, new_version)
    added = sorted(new.images.keys() - old.images.keys())
    removed = sorted(old.images.keys() - new.images.keys())
    both = old.images.keys() & new.images.keys()
    relabelled = sorted(k for k in both if old.labels.get(k) != new.labels.get(k))
    balance = _class_balance(old, new)
    shown = balance[:MAX_CLASSES_SHOWN]
    return VersionDiff(
        dataset=dataset,
        old_version=old_version,
        new_version=new_version,
        old_images=len(old.images),
        new_images=len(new.images),
        added=_samples(added, new),
        removed=_samples(removed, old),
        relabelled=_samples(relabelled, new),
        unchanged=len(both) - len(relabelled),
        class_balance=shown,
        classes_omitted=len(balance) - len(shown),
    )


def check_labels(
    store: DatasetStore, dataset: Dataset, version: Version, max_examples: Examples = 5
) -> LabelCheck:
    """A version's label problems (missing, malformed, unknown class, bad box…), with
    examples."""
    if not 0 <= max_examples <= MAX_EXAMPLES:
        raise DatasetError(f"max_examples must be between 0 and {MAX_EXAMPLES}, got {max_examples}")
    scan = store.scan(dataset, version)
    issues = {name: scan.issue(name).result(max_examples) for name in ISSUE_NAMES}
    return LabelCheck(
        dataset=dataset,
        version=version,
        layout=scan.layout,
        class_names_source=scan.class_names_source,
        task=scan.task,
        images=len(scan.images),
        label_entries=len(scan.labels),
        problems=sum(issue.count for issue in issues.values()),
        **issues,
    )


def _declared_images(manifest: Mapping[str, Any]) -> int | None:
    """`images` or `samples`, at the top or under `counts`, when the manifest states it."""
    counts = manifest.get("counts")
    for where in (manifest, counts if isinstance(counts, Mapping) else {}):
        for field in ("images", "samples"):
            value = where.get(field)
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                return value
    return None


def _image_sizes(scan: VersionScan) -> ImageSizes:
    sizes: Counter[tuple[int, int]] = Counter()
    unknown = 0
    declared = scan.declared_sizes
    for key, (_name, path) in scan.images.items():
        size = declared.get(key) or image_size(path)
        if size is None:
            unknown += 1
        else:
            sizes[size] += 1
    widths = [w for w, _ in sizes]
    heights = [h for _, h in sizes]
    return ImageSizes(
        most_common=[
            SizeCount(width=w, height=h, images=n)
            for (w, h), n in sizes.most_common(MOST_COMMON_SIZES)
        ],
        distinct_sizes=len(sizes),
        min_width=min(widths, default=None),
        max_width=max(widths, default=None),
        min_height=min(heights, default=None),
        max_height=max(heights, default=None),
        unknown=unknown,
    )


def _class_balance(old: VersionScan, new: VersionScan) -> list[ClassChange]:
    def by_name(scan: VersionScan) -> Counter[str]:
        counts: Counter[str] = Counter()
        for cls, n in scan.instances.items():
            counts[scan.class_names.get(cls, f"#{cls}")] += n
        return counts

    old_counts, new_counts = by_name(old), by_name(new)
    names = set(old_counts) | set(new_counts)
    names |= set(old.class_names.values()) | set(new.class_names.values())
    old_total = sum(old_counts.values()) or 1
    new_total = sum(new_counts.values()) or 1
    changes = [
        ClassChange(
            name=name,
            old_instances=old_counts[name],
            new_instances=new_counts[name],
            change=new_counts[name] - old_counts[name],
            old_share_pct=round(100 * old_counts[name] / old_total, 2),
            new_share_pct=round(100 * new_counts[name] / new_total, 2),
        )
        for name in names
    ]
    changes.sort(key=lambda c: (-abs(c.change), c.name))
    return changes


def _samples(keys: list[str], scan: VersionScan) -> Samples:
    return Samples(count=len(keys), examples=[scan.images[k][0] for k in keys[:EXAMPLES_KEPT]])
