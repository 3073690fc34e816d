"""The compact results the tools return (they become the model's structured content)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from mcp_servers.datasets.issues import Issue

LayoutName = Literal["yolo", "coco", "unlabelled"]
TaskName = Literal["detect", "segment", "pose", "mixed"]


class VersionInfo(BaseModel):
    version: str
    layout: LayoutName
    images: int = Field(description="Number of images (samples) in the version.")
    images_from: Literal["manifest", "files"] = Field(
        description="Whether `images` comes from the manifest or from counting files."
    )
    created: str = Field(description="Manifest `created`, else the folder's modification time.")
    description: str | None = None
    manifest_problem: str | None = None


class DatasetInfo(BaseModel):
    name: str
    versions: list[VersionInfo]


class DatasetList(BaseModel):
    root: str
    datasets: list[DatasetInfo]


class ClassCount(BaseModel):
    id: int
    name: str | None = Field(description="None when the id is not among the class names.")
    instances: int = Field(description="Objects (boxes, segments or poses) of this class.")
    images: int = Field(description="Images with at least one object of this class.")


class SizeCount(BaseModel):
    width: int
    height: int
    images: int


class ImageSizes(BaseModel):
    most_common: list[SizeCount] = Field(description="The most frequent sizes, in pixels.")
    distinct_sizes: int
    min_width: int | None = None
    max_width: int | None = None
    min_height: int | None = None
    max_height: int | None = None
    unknown: int = Field(0, description="Images whose header could not be read.")


class LabelShapes(BaseModel):
    boxes: int = Field(description="Detection objects: a box only (YOLO `class cx cy w h`).")
    segments: int = Field(
        description="Segmentation objects: a polygon (YOLO `class x1 y1 x2 y2 …`) or mask."
    )
    poses: int = Field(description="Pose objects: a box plus keypoints.")


class VersionStats(BaseModel):
    dataset: str
    version: str
    layout: LayoutName
    class_names_source: str | None = Field(
        description="Where class names came from; None means the version names no classes."
    )
    images: int
    labelled_images: int = Field(description="Images that have a label entry (file or record).")
    background_images: int = Field(description="Labelled images with no boxes at all.")
    unlabelled_images: int = Field(description="Images with no label entry.")
    task: TaskName | None = Field(
        description="What the labels train: detect, segment or pose; mixed when objects of "
        "more than one kind are present (Ultralytics trains one task); None without objects."
    )
    shapes: LabelShapes
    kpt_shape: list[int] | None = Field(
        None, description="data.yaml `kpt_shape` [keypoints, values each] of YOLO pose labels."
    )
    instances: int = Field(description="Objects in all labels (boxes, segments and poses).")
    classes: list[ClassCount]
    classes_omitted: int = Field(0, description="Classes left out (the rarest) to stay short.")
    image_sizes: ImageSizes


class Samples(BaseModel):
    count: int
    examples: list[str] = Field(description="A few of the image names (relative to the version).")


class ClassChange(BaseModel):
    name: str = Field(description="Class name, or '#<id>' for an id without a name.")
    old_instances: int
    new_instances: int
    change: int
    old_share_pct: float = Field(description="Share of all boxes in the old version, percent.")
    new_share_pct: float


class VersionDiff(BaseModel):
    dataset: str
    old_version: str
    new_version: str
    old_images: int
    new_images: int
    added: Samples = Field(description="Images only in the new version.")
    removed: Samples = Field(description="Images only in the old version.")
    relabelled: Samples = Field(description="Images in both whose labels differ.")
    unchanged: int
    class_balance: list[ClassChange] = Field(description="Largest changes first.")
    classes_omitted: int = 0


class LabelCheck(BaseModel):
    """Counts are of files, images, lines or boxes as named; examples are file names."""

    dataset: str
    version: str
    layout: LayoutName
    class_names_source: str | None = Field(
        description="Where class names came from; None means class ids were not checked."
    )
    task: TaskName | None = Field(description="detect, segment, pose or mixed; see stats.")
    images: int
    label_entries: int
    problems: int = Field(description="Sum of all counts below.")
    images_without_labels: Issue
    labels_without_images: Issue
    empty_labels: Issue = Field(description="Label entries with no boxes (background or lost).")
    malformed_lines: Issue = Field(
        description="Label lines or COCO records that are no box, segment or pose (a pose "
        "line needs data.yaml `kpt_shape` to be recognised)."
    )
    unknown_class_ids: Issue = Field(description="Boxes whose class id has no class name.")
    boxes_outside_image: Issue = Field(
        description="Boxes, segment points or labelled keypoints past the image border."
    )
    degenerate_boxes: Issue = Field(
        description="Boxes or segments of zero or negative width or height."
    )
    duplicate_images: Issue = Field(description="Same image name with two extensions.")
    symlinks_outside_root: Issue = Field(
        description="Symlinks leading outside the store: refused, not read."
    )
    unreadable_files: Issue
