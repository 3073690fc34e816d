"""The brief while the service runs: a hash per version, edits picked up, bad edits refused once."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from agent.engine.brief import BriefError, BriefWatch, load_brief

MARKER = "<silent/>"


@pytest.fixture
def brief_dir(tmp_path: Path) -> Path:
    d = tmp_path / "brief"
    d.mkdir()
    (d / "00-who.md").write_text("You watch training jobs.\n")
    (d / "10-quiet.md").write_text("Reply `{silence_marker}` when nothing is worth saying.\n")
    return d


class Notices(list[str]):
    async def __call__(self, text: str) -> None:
        self.append(text)


@pytest.fixture
def watch(brief_dir: Path, tmp_path: Path) -> tuple[BriefWatch, Notices]:
    notices = Notices()
    return BriefWatch(brief_dir, MARKER, tmp_path / "prompt.md", notices), notices


def published_hash() -> str | None:
    for metric in REGISTRY.collect():
        if metric.name == "mlops_brief":
            return next(s.labels["sha256"] for s in metric.samples)
    return None


def test_the_hash_follows_the_content_not_the_file_times(brief_dir: Path) -> None:
    first = load_brief(brief_dir, MARKER)
    (brief_dir / "00-who.md").write_text("You watch training jobs.\n")  # same bytes, new mtime
    assert load_brief(brief_dir, MARKER).digest == first.digest
    (brief_dir / "00-who.md").write_text("You watch training jobs closely.\n")
    assert load_brief(brief_dir, MARKER).digest != first.digest


async def test_an_edit_rewrites_the_prompt_file_and_the_published_hash(
    watch: tuple[BriefWatch, Notices], brief_dir: Path, tmp_path: Path
) -> None:
    brief, notices = watch
    before = brief.current
    assert published_hash() == before.digest
    assert await brief.refresh() is False  # nothing changed

    (brief_dir / "20-new.md").write_text("Always give the epoch.\n")

    assert await brief.refresh() is True
    prompt = (tmp_path / "prompt.md").read_text()
    assert "Always give the epoch." in prompt and f"`{MARKER}`" in prompt
    assert brief.current.digest != before.digest
    assert published_hash() == brief.current.digest
    assert await brief.refresh() is False
    assert notices == []


@pytest.mark.parametrize(
    ("breakage", "reason"),
    [
        (lambda d: [f.unlink() for f in d.glob("*.md")], "no brief/*.md files"),
        (lambda d: (d / "10-quiet.md").write_bytes(b"\xff\xfe not utf-8"), "cannot read"),
        (lambda d: (d / "10-quiet.md").write_text("Say nothing when quiet.\n"), "{silence_marker}"),
    ],
    ids=["no files", "unreadable", "no placeholder"],
)
async def test_a_broken_edit_keeps_the_previous_brief_and_is_reported_once(
    watch: tuple[BriefWatch, Notices], brief_dir: Path, tmp_path: Path, breakage, reason: str
) -> None:
    brief, notices = watch
    kept = brief.current
    breakage(brief_dir)

    for _ in range(3):  # three turns start while the brief is broken
        assert await brief.refresh() is False

    assert brief.current == kept
    assert (tmp_path / "prompt.md").read_text() == kept.prompt
    assert published_hash() == kept.digest
    [notice] = notices
    assert reason in notice and kept.short in notice


async def test_a_fixed_then_broken_again_brief_is_reported_again(
    watch: tuple[BriefWatch, Notices], brief_dir: Path
) -> None:
    brief, notices = watch
    quiet = brief_dir / "10-quiet.md"
    good = quiet.read_text()
    quiet.write_text("Say nothing.\n")
    await brief.refresh()
    quiet.write_text(good)
    assert await brief.refresh() is False  # back to the running brief: nothing to restart
    quiet.write_text("Say nothing.\n")
    await brief.refresh()
    assert len(notices) == 2


def test_the_service_cannot_start_without_a_usable_brief(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("No marker here.")
    with pytest.raises(BriefError, match="silence_marker"):
        BriefWatch(tmp_path, MARKER, tmp_path / "prompt.md")
