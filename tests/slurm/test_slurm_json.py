"""The JSON adapters against what real Slurm 22.05 and 24.11 printed (tests/slurm/recorded).

No Slurm runs here: `capture.py` recorded these documents from the real
daemons of the test images, with slurmdbd, so they hold every field the
backend reads in each layout, GPU allocations included.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from mcp_servers.aiqu.backends.base import SchedulerError
from mcp_servers.aiqu.backends.slurm_json import (
    FLAT,
    NUMBERED,
    STRUCTURED,
    JobRecord,
    SlurmLayoutError,
    read_document,
)
from tests.slurm.recordings import recorded

# How each scenario of the capture must read, whatever the layout: state, exit code, GPUs.
FINISHED = {
    "ok": ("COMPLETED", 0),
    "fails": ("FAILED", 3),
    "killed": ("FAILED", -9),
    "cancelled": ("CANCELLED", -15),  # squeue keeps scancel's SIGTERM
}
ACTIVE = {"typed-gpus": "RUNNING", "per-job-gpus": "RUNNING", "pending-gpu": "PENDING"}
# typed --gres, per-job --gpus, --gpus-per-node; the allocation string lists the
# typed GPU beside the untyped total, which must not count twice.
GPUS = {"ok": 0, "fails": 0, "killed": 0, "cancelled": 0} | dict.fromkeys(ACTIVE, 1)

SQUEUE_DOCUMENTS = [
    ("22.05", "squeue.json"),  # 22.05 prints finished jobs whatever the filters
    ("24.11", "squeue-all.json"),
    ("24.11", "squeue-v0.0.40.json"),
    ("24.11", "squeue-v0.0.41.json"),
]


def by_scenario(version: str, records: dict[str, JobRecord]) -> dict[str, JobRecord]:
    ids = recorded(version).ids
    return {scenario: records[job_id] for scenario, job_id in ids.items() if job_id in records}


@pytest.mark.parametrize(("version", "name"), SQUEUE_DOCUMENTS)
def test_every_squeue_layout_reads_the_same_jobs(version: str, name: str) -> None:
    jobs = by_scenario(version, recorded(version).document(name).jobs())

    assert {s: (j.raw_state, j.exit_code) for s, j in jobs.items() if s in FINISHED} == FINISHED
    assert {s: j.raw_state for s, j in jobs.items() if s in ACTIVE} == ACTIVE
    assert {s: j.gpus for s, j in jobs.items()} == GPUS
    assert {(j.name, j.user, j.queue) for j in jobs.values()} == {
        (s, "root", "debug") for s in jobs
    }
    assert (jobs["fails"].reason, jobs["pending-gpu"].reason) == ("NonZeroExitCode", "Resources")
    assert jobs["ok"].reason is None  # Slurm's "None" is no reason
    for job in (jobs[s] for s in FINISHED):
        assert job.submitted_at <= (job.started_at or 0) <= (job.ended_at or 0)
    assert jobs["pending-gpu"].started_at is None
    fails = recorded(version).ids["fails"]  # 22.05 leaves the %j pattern unexpanded
    assert jobs["fails"].stdout.replace("%j", fails).endswith(f"/{fails}.out")


@pytest.mark.parametrize(
    ("version", "name", "layout"),
    [
        ("22.05", "squeue.json", FLAT),
        ("22.05", "sacct.json", FLAT),
        ("24.11", "squeue-v0.0.40.json", STRUCTURED),
        ("24.11", "squeue-v0.0.41.json", STRUCTURED),
        ("24.11", "squeue-all.json", STRUCTURED),
        ("24.11", "sacct.json", STRUCTURED),
    ],
)
def test_the_layout_is_the_one_meta_names(version: str, name: str, layout: object) -> None:
    document = recorded(version).document(name)

    assert document.layout is layout
    assert document.release == recorded(version).release


def test_plain_squeue_on_24_11_hides_finished_jobs_so_the_backend_asks_for_them() -> None:
    plain = by_scenario("24.11", recorded("24.11").document("squeue.json").jobs())

    assert set(plain) == set(ACTIVE)


def test_one_job_from_scontrol_reads_like_squeue() -> None:
    recording = recorded("24.11")
    shown = recording.document("scontrol-job.json").jobs()
    listed = recording.document("squeue-all.json").jobs()
    fails = recording.ids["fails"]

    assert shown == {fails: listed[fails]}
    assert recording.document("scontrol-purged.json").jobs() == {}


def test_sacct_on_24_11_reads_exit_codes_signals_and_allocated_gpus() -> None:
    jobs = by_scenario("24.11", recorded("24.11").document("sacct.json").accounted())

    assert {s: (j.raw_state, j.exit_code) for s, j in jobs.items() if s in FINISHED} == {
        **FINISHED,
        "cancelled": ("CANCELLED", 0),  # sacct, unlike squeue, does not keep the signal
    }
    assert {s: j.gpus for s, j in jobs.items()} == GPUS
    assert jobs["killed"].started_at is not None and jobs["killed"].ended_at is not None
    assert jobs["pending-gpu"].started_at is None


def test_sacct_on_22_05_knows_only_a_completed_jobs_code_and_signals() -> None:
    # 22.05 prints SUCCESS/0 for every normal exit (it tests WIFEXITED first).
    raw = json.loads(recorded("22.05").text("sacct.json"))
    fails = next(j for j in raw["jobs"] if j["name"] == "fails")
    assert fails["exit_code"] == {"status": "SUCCESS", "return_code": 0}

    jobs = by_scenario("22.05", recorded("22.05").document("sacct.json").accounted())

    assert {s: (j.raw_state, j.exit_code) for s, j in jobs.items() if s in FINISHED} == {
        "ok": ("COMPLETED", 0),
        "fails": ("FAILED", None),
        "killed": ("FAILED", -9),
        "cancelled": ("CANCELLED", None),
    }
    assert {s: j.gpus for s, j in jobs.items() if s in ("typed-gpus", "per-job-gpus")} == {
        "typed-gpus": 1,
        "per-job-gpus": 1,
    }


def as_23_02(document: dict[str, Any]) -> dict[str, Any]:
    """22.05's recording reshaped as Slurm 23.02's data_parser/v0.0.39 prints it.

    Derived from 23.02's src/plugins/data_parser/v0.0.39/parsers.c (no 23.02
    runs here): exit_code and node_count become {set, infinite, number}; states
    and times stay flat; meta says "plugins" and "Slurm"."""
    reshaped = copy.deepcopy(document)
    reshaped["meta"] = {
        "plugins": {"data_parser": "data_parser/v0.0.39", "accounting_storage": ""},
        "Slurm": {"version": {"major": 23, "micro": 7, "minor": 2}, "release": "23.02.7"},
    }
    for job in reshaped["jobs"]:
        for key in ("exit_code", "node_count"):
            job[key] = {"set": True, "infinite": False, "number": job[key]}
    return reshaped


def test_slurm_23_02_numbers_are_read_with_its_own_layout() -> None:
    original = json.loads(recorded("22.05").text("squeue.json"))
    document = read_document(json.dumps(as_23_02(original)), "squeue --json")
    flat = read_document(json.dumps(original), "squeue --json")

    assert document.layout is NUMBERED
    assert document.jobs() == flat.jobs()


def reshaped_24_11(change: dict[str, Any] | None = None, parser: str = "v0.0.42") -> str:
    document = json.loads(recorded("24.11").text("squeue-all.json"))
    document["meta"]["plugin"]["data_parser"] = f"data_parser/{parser}"
    document["jobs"][0].update(change or {})
    return json.dumps(document)


def test_a_newer_parser_with_the_same_fields_is_read() -> None:
    newer = read_document(reshaped_24_11(parser="v0.0.47"), "squeue --json")
    known = recorded("24.11").document("squeue-all.json")

    assert newer.jobs() == known.jobs()


def test_a_field_a_newer_layout_changed_is_named_with_the_slurm_release() -> None:
    changed = reshaped_24_11({"job_state": {"current": ["RUNNING"]}}, parser="v0.0.47")

    with pytest.raises(SlurmLayoutError) as caught:
        read_document(changed, "squeue --json").jobs()

    assert str(caught.value).startswith(
        "Slurm 24.11.5 (data_parser/v0.0.47): field 'job_state' of job 1 is"
        ' {"current": ["RUNNING"]}; the v0.0.40+ (Slurm 23.11 onwards) layout has'
        " a list of state names such as ['RUNNING'] there"
    )


def test_the_layout_follows_meta_not_the_shape_of_a_field() -> None:
    # 22.05's flat record under a meta that claims 24.11's parser: not guessed around.
    flat = json.loads(recorded("22.05").text("squeue.json"))
    flat["meta"] = json.loads(recorded("24.11").text("squeue.json"))["meta"]

    with pytest.raises(SlurmLayoutError, match="field 'job_state' of job 1 is \"COMPLETED\""):
        read_document(json.dumps(flat), "squeue --json").jobs()


def test_a_missing_field_is_named() -> None:
    document = json.loads(reshaped_24_11())
    del document["jobs"][1]["exit_code"]

    with pytest.raises(SlurmLayoutError, match="field 'exit_code' of job 2 is missing"):
        read_document(json.dumps(document), "squeue --json").jobs()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("squeue: error: oops", "squeue --json gave output that is not JSON"),
        ('{"jobs": []}', "squeue --json gave JSON without a 'meta' object naming its layout"),
        (
            '{"meta": {"plugin": {"type": "openapi/v0.0.36"}, "Slurm": {"release": "20.11.9"}},'
            ' "jobs": []}',
            "Slurm 20.11.9 wrote its JSON with openapi/v0.0.36; readable layouts are"
            " openapi/v0.0.37 to data_parser/v0.0.46",
        ),
    ],
)
def test_documents_that_cannot_be_read_say_why(text: str, message: str) -> None:
    with pytest.raises(SlurmLayoutError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_document(text, "squeue --json")


def test_errors_slurm_reports_in_the_document_are_raised() -> None:
    document = json.loads(reshaped_24_11())
    document["errors"] = [{"description": "Unable to contact slurm controller", "error": "x"}]

    with pytest.raises(SchedulerError, match=r"squeue --json failed \(Slurm 24\.11\.5\): Unable"):
        read_document(json.dumps(document), "squeue --json")


def test_stored_records_of_older_versions_of_the_backend_still_load() -> None:
    # What the 22.05-only backend stored as a final state (a dict without new keys).
    old = {"raw_state": "FAILED", "reason": None, "queue": "debug", "exit_code": 4, "extra": 1}

    assert JobRecord.stored(old) == JobRecord("FAILED", queue="debug", exit_code=4)
