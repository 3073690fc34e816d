"""Slurm's JSON job documents (`squeue`, `scontrol`, `sacct --json`), read per layout.

Slurm reshaped its JSON twice; the document's `meta` names the parser that
wrote it, and that alone picks the reader (never the shape of a field):

- `openapi/v0.0.37`–`v0.0.38` (21.08, 22.05): flat values — `job_state`
  "RUNNING", times as unix seconds (0: none), `exit_code` the raw wait(2)
  status, `node_count` a number; sacct's exit code `{status, return_code}`.
- `data_parser/v0.0.39` (23.02): states and times still flat; `exit_code`
  and `node_count` become `{set, infinite, number}`.
- `data_parser/v0.0.40` onwards (23.11–25.x): `job_state` a list (base state
  plus flags), times `{set, infinite, number}` too, exit codes
  `{status: [...], return_code: {...}, signal: {id: {...}, name}}`.

A field that is not what its layout says raises SlurmLayoutError naming the
Slurm release, the parser, the job and the field — a future layout fails
loudly at the first field it changed, never as a TypeError in the middle.
22.05 and 23.02 print sacct exit codes wrongly (`SUCCESS`/0 for every normal
exit: their dump tests WIFEXITED before the code), so with those only a
COMPLETED job's code (0) and a signal are known.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import orjson

from .base import SchedulerError
from .slurm_tres import accounted_gpus, job_gpus

NEWEST_KNOWN = 46  # data_parser/v0.0.46, Slurm's newest when this was written
PARSER_VERSION = re.compile(r"v0\.0\.(\d+)$")
# A list state names its base state plus flags; one name for it, as Slurm's
# job_state_string() (src/common/slurm_protocol_defs.c) picks.
FLAG_PRIORITY = (
    "COMPLETING", "STAGE_OUT", "CONFIGURING", "RESIZING", "REQUEUED", "REQUEUE_FED",
    "REQUEUE_HOLD", "SPECIAL_EXIT", "STOPPED", "REVOKED", "RESV_DEL_HOLD", "SIGNALING",
)  # fmt: skip


class SlurmLayoutError(SchedulerError):
    """Slurm printed JSON this backend cannot read; the message names where."""


@dataclass(frozen=True)
class JobRecord:
    """What the backend keeps of one job as Slurm last described it."""

    raw_state: str
    reason: str | None = None
    name: str = ""
    user: str = ""
    queue: str | None = None
    gpus: int = 0
    submitted_at: float = 0.0
    started_at: float | None = None
    ended_at: float | None = None
    exit_code: int | None = None  # negative: killed by that signal
    stdout: str = ""
    restarts: int = 0  # restart_cnt: times Slurm requeued this job id

    @classmethod
    def stored(cls, data: Mapping[str, Any]) -> JobRecord:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


class _Mismatch(Exception):
    """A field reader's complaint: what the layout expects there."""


Reader = Callable[[Any], Any]


@dataclass(frozen=True)
class Layout:
    name: str
    state: Reader  # job_state / sacct state.current → one state name
    time: Reader  # squeue times → unix seconds or None
    count: Reader  # node_count → int
    exit_code: Reader  # squeue exit_code → return code, -signal, or None
    accounted_exit: Reader  # sacct exit_code → (status, return code or -signal)
    reads_sacct_exit_fully: bool = field(default=True)


@dataclass(frozen=True)
class Document:
    """One parsed `--json` answer: its jobs, read with the layout its meta names."""

    release: str
    parser: str
    layout: Layout
    raw_jobs: list[Any]

    def jobs(self, where: Callable[[str, str], bool] | None = None) -> dict[str, JobRecord]:
        """squeue / scontrol job records by job id; with `where`, only the jobs for which
        `where(job_id, name)` holds (the rest are never read past their id and name)."""
        if where is None:
            return {self._id(raw): self._job(raw) for raw in self.raw_jobs}
        kept = {}
        for raw in self.raw_jobs:
            job_id = self._id(raw)
            if where(job_id, self._reader(raw)("name", _text)):
                kept[job_id] = self._job(raw)
        return kept

    def accounted(self) -> dict[str, JobRecord]:
        """sacct job records by job id (steps are not read)."""
        return {self._id(raw): self._accounted(raw) for raw in self.raw_jobs}

    def _job(self, raw: Any) -> JobRecord:
        read = self._reader(raw)
        state = read("job_state", self.layout.state)
        reason = read("state_reason", _text)
        nodes = read("node_count", self.layout.count)
        return JobRecord(
            raw_state=state,
            reason=None if reason in ("", "None") else reason,
            name=read("name", _text),
            user=read("user_name", _text),
            queue=read("partition", _text) or None,
            gpus=job_gpus(
                read("tres_alloc_str", _text),
                read("tres_per_job", _text),
                read("tres_per_node", _text),
                nodes or 1,
            ),
            submitted_at=read("submit_time", self.layout.time) or 0.0,
            started_at=read("start_time", self.layout.time),
            ended_at=read("end_time", self.layout.time),
            exit_code=read("exit_code", self.layout.exit_code),
            stdout=read("standard_output", _text),
            restarts=read("restart_cnt", _whole),
        )

    def _accounted(self, raw: Any) -> JobRecord:
        read = self._reader(raw)
        state_block = read("state", _mapping)
        state = self._reader(state_block, "state.")("current", self.layout.state)
        times = self._reader(read("time", _mapping), "time.")
        status, code = read("exit_code", self.layout.accounted_exit)
        if not self.layout.reads_sacct_exit_fully and status == "SUCCESS":
            code = 0 if state == "COMPLETED" else None
        tres = self._reader(read("tres", _mapping), "tres.")
        return JobRecord(
            raw_state=state,
            name=read("name", _text),
            user=read("user", _text),
            queue=read("partition", _text) or None,
            gpus=accounted_gpus(tres("allocated", _list))
            or accounted_gpus(tres("requested", _list))
            or 0,
            submitted_at=times("submission", _plain_time) or 0.0,
            started_at=times("start", _plain_time),
            ended_at=times("end", _plain_time),
            exit_code=code,
        )

    def _id(self, raw: Any) -> str:
        return str(self._reader(raw)("job_id", _whole))

    def _reader(self, raw: Any, prefix: str = "") -> Callable[[str, Reader], Any]:
        if not isinstance(raw, dict):
            raise self._error(f"{prefix or 'a job record'}", raw, "an object")
        job = raw.get("job_id", "?")

        def read(key: str, reader: Reader) -> Any:
            if key not in raw:
                raise self._error(f"{prefix}{key}", None, "present", job)
            try:
                return reader(raw[key])
            except _Mismatch as exc:
                raise self._error(f"{prefix}{key}", raw[key], str(exc), job) from None

        return read

    def _error(self, name: str, value: Any, expected: str, job: Any = "?") -> SlurmLayoutError:
        shown = json.dumps(value)[:120] if value is not None else "missing"
        return SlurmLayoutError(
            f"Slurm {self.release} ({self.parser}): field {name!r} of job {job} is {shown};"
            f" the {self.layout.name} layout has {expected} there"
        )


def read_document(text: str, command: str) -> Document:
    """Parse a `--json` answer and pick its layout from `meta`; refuse what cannot be read."""
    try:
        doc = orjson.loads(text)
    except ValueError as exc:  # orjson.JSONDecodeError is one
        raise SlurmLayoutError(f"{command} gave output that is not JSON: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("meta"), dict):
        raise SlurmLayoutError(f"{command} gave JSON without a 'meta' object naming its layout")
    meta = doc["meta"]
    release, parser = _release(meta), _parser(meta)
    errors = [e.get("description") or e.get("error") for e in doc.get("errors") or []]
    if errors:
        raise SchedulerError(f"{command} failed (Slurm {release}): {'; '.join(map(str, errors))}")
    match = PARSER_VERSION.search(parser)
    if match is None or int(match[1]) < 37:
        raise SlurmLayoutError(
            f"{command}: Slurm {release} wrote its JSON with {parser or 'an unnamed parser'};"
            f" readable layouts are openapi/v0.0.37 to data_parser/v0.0.{NEWEST_KNOWN}"
            " (Slurm 21.08 onwards)"
        )
    # A newer parser than the newest known is read as the newest layout: every
    # field is checked, so a change surfaces as an error naming that field.
    layout = LAYOUTS[min(int(match[1]), NEWEST_KNOWN)]
    jobs = doc.get("jobs")
    if not isinstance(jobs, list):
        raise SlurmLayoutError(f"{command}: Slurm {release} ({parser}) gave no 'jobs' list")
    return Document(release, parser, layout, jobs)


def _release(meta: dict[str, Any]) -> str:
    slurm = meta.get("slurm") or meta.get("Slurm") or {}  # "Slurm" up to 23.02
    return str(slurm.get("release") or "of unknown release")


def _parser(meta: dict[str, Any]) -> str:
    plugin = meta.get("plugin") or meta.get("plugins") or {}  # "plugins" in 23.02
    return str(plugin.get("data_parser") or plugin.get("type") or "")


# -- field readers: each accepts exactly its layout's shape -----------------------


def _text(value: Any) -> str:
    if value is None:
        return ""  # 22.05 prints null for some unset strings
    if not isinstance(value, str):
        raise _Mismatch("a string")
    return value


def _whole(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise _Mismatch("a whole number")
    return value


def _mapping(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Mismatch("an object")
    return value


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise _Mismatch("a list")
    return value


def _plain_state(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise _Mismatch("a state name such as 'RUNNING'")
    return value


def _listed_state(value: Any) -> str:
    if not isinstance(value, list) or not value or not all(isinstance(s, str) for s in value):
        raise _Mismatch("a list of state names such as ['RUNNING']")
    flags = [name for name in FLAG_PRIORITY if name in value]
    return flags[0] if flags else value[0]


def _plain_time(value: Any) -> float | None:
    return float(_whole(value)) or None


def _number(value: Any) -> int | None:
    """A `{set, infinite, number}` object: its number, or None when unset or infinite."""
    if not isinstance(value, dict) or not {"set", "infinite", "number"} <= value.keys():
        raise _Mismatch("an object {set, infinite, number}")
    number = value["number"]
    if not isinstance(number, int | float) or isinstance(number, bool):
        raise _Mismatch("an object {set, infinite, number} with a numeric number")
    return int(number) if value["set"] and not value["infinite"] else None


def _numbered_time(value: Any) -> float | None:
    number = _number(value)
    return float(number) if number else None


def _plain_count(value: Any) -> int:
    return _whole(value)


def _numbered_count(value: Any) -> int:
    return _number(value) or 0


def _wait_status(status: int) -> int:
    """A wait(2) status as a process return code: negative for a signal, as subprocess does."""
    return -(status & 0x7F) if status & 0x7F else (status >> 8) & 0xFF


def _raw_status(value: Any) -> int | None:
    return _wait_status(_whole(value))


def _numbered_status(value: Any) -> int | None:
    number = _number(value)
    return None if number is None else _wait_status(number)


def _structured_exit(value: Any) -> int | None:
    return _structured_accounted_exit(value)[1]


def _structured_accounted_exit(value: Any) -> tuple[str, int | None]:
    if not isinstance(value, dict) or not isinstance(value.get("status"), list):
        raise _Mismatch("an object {status: [...], return_code, signal}")
    signal = value.get("signal")
    if not isinstance(signal, dict):
        raise _Mismatch("an object {status, return_code, signal: {id, name}}")
    status = value["status"][0] if value["status"] else ""
    signal_id = _number(signal.get("id"))
    if signal_id:
        return status, -signal_id
    return status, _number(value.get("return_code"))


def _flat_accounted_exit(value: Any) -> tuple[str, int | None]:
    if not isinstance(value, dict) or not isinstance(value.get("status"), str):
        raise _Mismatch("an object {status: 'SUCCESS', return_code: 0}")
    signal = value.get("signal") or {}
    if value["status"] == "SIGNALED" and isinstance(signal.get("signal_id"), int):
        return "SIGNALED", -signal["signal_id"]
    code = value.get("return_code")
    return value["status"], code if isinstance(code, int) else None


FLAT = Layout(
    "flat (Slurm ≤ 22.05)",
    state=_plain_state,
    time=_plain_time,
    count=_plain_count,
    exit_code=_raw_status,
    accounted_exit=_flat_accounted_exit,
    reads_sacct_exit_fully=False,
)
NUMBERED = Layout(
    "v0.0.39 (Slurm 23.02)",
    state=_plain_state,
    time=_plain_time,
    count=_numbered_count,
    exit_code=_numbered_status,
    accounted_exit=_flat_accounted_exit,
    reads_sacct_exit_fully=False,
)
STRUCTURED = Layout(
    "v0.0.40+ (Slurm 23.11 onwards)",
    state=_listed_state,
    time=_numbered_time,
    count=_numbered_count,
    exit_code=_structured_exit,
    accounted_exit=_structured_accounted_exit,
)
LAYOUTS = {
    37: FLAT,
    38: FLAT,
    39: NUMBERED,
    **dict.fromkeys(range(40, NEWEST_KNOWN + 1), STRUCTURED),
}
