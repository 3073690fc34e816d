"""What the Ray backend does beyond the scheduler contract (tests/scheduler), on a real head:
time limits, a cancel before the start, a shipped workdir, the job's environment and
metadata, jobs Ray forgot or never got from aiqu, and what `doctor` says."""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread

import httpx
import pytest

from core.skill_env import SkillEnvironment
from mcp_servers.aiqu.backends.base import JobSpec, JobState, SchedulerError
from mcp_servers.aiqu.backends.ray import RayScheduler
from mcp_servers.aiqu.backends.ray_api import RayDashboard
from mcp_servers.aiqu.health import check
from tests.ray.cluster import RayHead
from tests.ray.conftest import job_when, sh
from tests.service.test_route_secrets import ROUTES, SITE, A, B

pytestmark = pytest.mark.ray


def test_a_job_past_its_time_limit_is_stopped_by_the_backend_and_says_so(
    ray_head: RayHead,
    skill_env: dict[str, str],
    make_ray: Callable[..., RayScheduler],
) -> None:
    offset = [0.0]
    clocked = RayScheduler(
        Path(skill_env["MLOPS_STATE_DIR"]),
        RayDashboard(ray_head.url),
        poll_interval_s=0.2,
        clock=lambda: time.time() + offset[0],
    )
    job = clocked.submit(sh("echo started; sleep 600", time_limit_min=1))
    running = job_when(clocked, job.id, lambda j: j.state is JobState.RUNNING)
    clocked.start()  # the background pass: nobody else asks
    try:
        time.sleep(1.0)
        assert clocked.get(job.id).state is JobState.RUNNING  # within its minute
        offset[0] = 61  # a minute and a second later
        ray_head_status = _until(lambda: ray_head.status(job.id) == "STOPPED", "Ray to stop it")
        ended = clocked.get(job.id)
        # The end is stored now (by this call or the background pass): read from the store,
        # here and by the skill started again, it still says why aiqu stopped it.
        stored = [clocked.get(job.id), make_ray().get(job.id)]
    finally:
        clocked.close()
        ray_head.stop_all()

    assert ray_head_status
    assert running.started_at is not None
    for seen in (ended, *stored):
        assert (seen.state, seen.raw_state, seen.reason) == (
            JobState.FAILED,
            "STOPPED",
            "time limit of 1 min reached",
        )


def test_a_job_cancelled_while_it_waits_reads_cancelled_at_once_and_its_command_never_finishes(
    ray: RayScheduler, ray_head: RayHead, tmp_path: Path
) -> None:
    marker = tmp_path / "ran-to-the-end"
    holders = [ray.submit(sh("sleep 60", name=f"holder-{i}", gpus=1)) for i in range(2)]
    for holder in holders:
        job_when(ray, holder.id, lambda j: j.state is JobState.RUNNING)
    waiting = ray.submit(sh(f"sleep 3; touch {shlex.quote(str(marker))}", gpus=1))

    cancelled = ray.cancel(waiting.id)
    for holder in holders:
        ray.cancel(holder.id)
    # Ray stops it only the moment it would start (ray-project/ray#58353).
    _until(lambda: ray_head.status(waiting.id) == "STOPPED", "Ray to stop the waiting job")
    time.sleep(4)  # longer than the command would have taken

    assert (cancelled.state, cancelled.raw_state, cancelled.reason) == (
        JobState.CANCELLED,
        "PENDING",
        "cancelled before it started",
    )
    assert cancelled.ended_at is not None
    assert ray.get(waiting.id).state is JobState.CANCELLED
    assert not marker.exists()


def test_a_workdir_is_shipped_once_and_the_job_runs_in_it(
    ray: RayScheduler, ray_head: RayHead, tmp_path: Path
) -> None:
    code = tmp_path / "repo"
    (code / "configs").mkdir(parents=True)
    (code / "configs" / "train.yaml").write_text("lr: 0.01\n")
    (code / "train.sh").write_text('#!/bin/sh\necho "trained with $(cat configs/train.yaml)"\n')
    (code / "train.sh").chmod(0o755)
    (code / ".git").mkdir()
    (code / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    spec = JobSpec("team/train", ["./train.sh"], workdir=str(code))

    first = job_when(ray, ray.submit(spec).id, lambda j: not j.state.active)
    second = job_when(ray, ray.submit(spec).id, lambda j: not j.state.active)
    listing = job_when(
        ray, ray.submit(JobSpec("team/ls", ["ls", "-A"], workdir=str(code))).id,
        lambda j: not j.state.active,
    )  # fmt: skip

    assert (first.state, second.state) == (JobState.SUCCEEDED, JobState.SUCCEEDED)
    assert ray.logs(first.id) == "trained with lr: 0.01"
    assert ray.logs(listing.id).splitlines() == ["configs", "train.sh"]  # no .git
    shipped = {ray_head.request("GET", f"/api/jobs/{j.id}").json()["runtime_env"]["working_dir"]
               for j in (first, second)}  # fmt: skip
    assert len(shipped) == 1 and shipped.pop().startswith("gcs://_ray_pkg_")


def test_the_submission_carries_its_labels_and_where_to_report(
    make_ray: Callable[..., RayScheduler], ray_head: RayHead, tmp_path: Path
) -> None:
    ray = make_ray(MLOPS_URL="http://127.0.0.1:8080", MLOPS_WEBHOOK_SECRET=SITE)
    labels = {"submitted_by": "agent", "sweep": "lr-1"}
    job = ray.submit(sh("true", name="cust/x", gpus=1, labels=labels, env={"OWN": "1"}))

    sent = ray_head.request("GET", f"/api/jobs/{job.id}").json()

    assert job.id.startswith("aiqu-") and sent["submission_id"] == job.id
    assert sent["entrypoint"] == "exec sh -c true"
    # Ray's answer leaves out entrypoint_num_gpus: tests/scheduler sees the GPUs queue.
    assert sent["metadata"] == {**labels, "mlops_job": "cust/x", "mlops_attempt": "1"}
    assert sent["runtime_env"]["env_vars"] == {
        "MLOPS_URL": "http://127.0.0.1:8080",
        "MLOPS_WEBHOOK_SECRET": SITE,
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "OWN": "1",
        "MLOPS_JOB": "cust/x",
        "MLOPS_ATTEMPT": "1",
        "MLOPS_JOB_ID": job.id,
        "MLOPS_LABELS": json.dumps(labels, sort_keys=True),
    }


def test_jobs_get_their_route_s_webhook_secret_which_their_env_cannot_override(
    make_ray: Callable[..., RayScheduler], tmp_path: Path
) -> None:
    (tmp_path / "a.whsec").write_text(A + "\n")
    (tmp_path / "b.whsec").write_text(B)
    routes = tmp_path / "routes.yaml"
    routes.write_text(ROUTES.format(dir=str(tmp_path).lstrip("/")))
    ray = make_ray(MLOPS_WEBHOOK_SECRET=SITE, MLOPS_ROUTES=str(routes))
    show = 'echo "$MLOPS_WEBHOOK_SECRET"'
    jobs = {
        "customer-a/weld": ray.submit(sh(show, name="customer-a/weld")),
        "internal/x": ray.submit(sh(show, name="internal/x")),
        "customer-a/forged": ray.submit(
            sh(show, name="customer-a/forged", env={"MLOPS_WEBHOOK_SECRET": B})
        ),
    }
    for job in jobs.values():
        job_when(ray, job.id, lambda j: not j.state.active)

    printed = {name: ray.logs(job.id) for name, job in jobs.items()}

    assert printed == {"customer-a/weld": A, "internal/x": SITE, "customer-a/forged": A}


def test_a_job_ray_forgot_before_its_end_was_seen_fails_saying_so(
    make_ray: Callable[..., RayScheduler], ray_head: RayHead
) -> None:
    job = make_ray().submit(sh("true"))
    _until(lambda: ray_head.status(job.id) == "SUCCEEDED", "the job to end")
    ray_head.request("DELETE", f"/api/jobs/{job.id}")  # nobody looked in between

    restarted = make_ray()
    lost = restarted.get(job.id)

    assert (lost.state, lost.raw_state, lost.exit_code) == (JobState.FAILED, "UNKNOWN", None)
    assert lost.reason is not None and "Ray no longer holds this job" in lost.reason
    assert (lost.name, lost.attempt) == ("team/train", 1)
    with pytest.raises(SchedulerError, match=f"Ray no longer holds job {job.id} nor its log"):
        restarted.logs(job.id)


def test_a_job_submitted_outside_aiqu_is_never_the_agent_s_and_cannot_be_requeued(
    ray: RayScheduler, ray_head: RayHead
) -> None:
    theirs = ray_head.submit(
        "exec sh -c 'echo from bob; sleep 60'",
        entrypoint_num_gpus=1,
        metadata={"user": "bob", "submitted_by": "agent"},
        runtime_env={"env_vars": {"MLOPS_JOB": "bob/eval"}},
    )
    running = job_when(ray, theirs, lambda j: j.state is JobState.RUNNING)
    _until(lambda: ray.logs(theirs), "its first line")

    # Ray's Jobs API does not say what a job asked for: its GPUs are not known here.
    assert (running.name, running.gpus, running.spec, running.attempt) == ("bob/eval", 0, None, 1)
    # Its metadata cannot make it the agent's: only the index says what aiqu submitted.
    assert running.labels == {"submitted_by": "ray:bob"}
    assert ray.logs(theirs) == "from bob"
    assert theirs in {j.id for j in ray.list(include_finished=False)}
    with pytest.raises(SchedulerError, match="not submitted through aiqu, so its command"):
        ray.requeue(theirs)


def test_doctor_names_the_cluster_its_ray_and_its_gpus(skill_env: dict[str, str]) -> None:
    ok, line = check(SkillEnvironment.from_env({**skill_env, "MLOPS_SCHEDULER": "ray"}))

    assert ok, line
    assert line.startswith("ray: Ray 2.60.0 cluster at http://127.0.0.1:")
    assert "1 node(s), 2 GPU(s), 2 CPU(s)" in line


@pytest.mark.parametrize(
    ("env", "said"),
    [
        ({}, "MLOPS_SCHEDULER=ray needs MLOPS_RAY_ADDRESS, the Ray dashboard's URL"),
        ({"MLOPS_RAY_ADDRESS": "ray-head:8265"}, "must be the dashboard's http(s) URL"),
        ({"MLOPS_RAY_ADDRESS": "http://127.0.0.1:9"}, "cannot reach the Ray dashboard at"),
        (
            {"MLOPS_RAY_ADDRESS": "http://127.0.0.1:9", "MLOPS_RAY_HEADERS_FILE": "/nonexistent"},
            "MLOPS_RAY_HEADERS_FILE=/nonexistent: cannot read it",
        ),
    ],
)
def test_doctor_says_exactly_what_is_wrong(env: dict[str, str], said: str, state_dir: Path) -> None:
    given = {"MLOPS_STATE_DIR": str(state_dir), "MLOPS_SCHEDULER": "ray", **env}
    ok, line = check(SkillEnvironment.from_env(given))

    assert not ok
    assert said in line, line


def test_a_dashboard_behind_a_token_is_reached_with_the_headers_file(
    ray_head: RayHead, state_dir: Path, tmp_path: Path
) -> None:
    headers = tmp_path / "ray-headers.json"
    headers.write_text(json.dumps({"Authorization": "Bearer s3cret"}))
    with _token_proxy(ray_head.url, "Bearer s3cret") as proxy:
        given = {"MLOPS_STATE_DIR": str(state_dir), "MLOPS_SCHEDULER": "ray"}
        with_token = {**given, "MLOPS_RAY_ADDRESS": proxy, "MLOPS_RAY_HEADERS_FILE": str(headers)}
        ok, line = check(SkillEnvironment.from_env(with_token))
        refused, why = check(SkillEnvironment.from_env({**given, "MLOPS_RAY_ADDRESS": proxy}))

    assert ok, line
    assert not refused
    assert (
        "refused to read its version (HTTP 401): check the headers in MLOPS_RAY_HEADERS_FILE" in why
    )


def _until(check: Callable[[], object], what: str, timeout_s: float = 90.0) -> object:
    deadline = time.monotonic() + timeout_s
    while not (value := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.2)
    return value


class _Proxy(BaseHTTPRequestHandler):
    """What a site puts in front of its dashboard: no token, no entry."""

    upstream = ""
    token = ""

    def _forward(self) -> None:
        if self.headers.get("Authorization") != self.token:
            self.send_response(401)
            self.end_headers()
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        answer = httpx.request(self.command, self.upstream + self.path, content=body, timeout=60)
        self.send_response(answer.status_code)
        self.send_header("Content-Length", str(len(answer.content)))
        self.end_headers()
        self.wfile.write(answer.content)

    do_GET = do_POST = do_PUT = _forward

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def _token_proxy(upstream: str, token: str) -> Iterator[str]:
    handler = type("Handler", (_Proxy,), {"upstream": upstream, "token": token})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
