"""The Ray backend: training jobs on a Ray cluster, through the dashboard's Jobs REST API.

A job is one Ray job submission: its command is the entrypoint (`exec` + the
argv, quoted), its GPUs `entrypoint_num_gpus` (Ray queues the job until they
are free and sets `CUDA_VISIBLE_DEVICES`), its environment, identity and
route's webhook secret `runtime_env.env_vars`, its labels the job's metadata,
its workdir a package uploaded to the cluster (`ray_package.py`). aiqu picks
the submission id (`aiqu-<12 hex>`), so the id is known before Ray answers.

Ray has no time limits: the backend stops a job that ran past its own, as the
local backend does, whenever it looks (every call, and a background pass while
the skill or the service's watch process runs). Ray cannot stop a job that is
still waiting (ray-project/ray#58353: it stops it the moment it would start),
so a cancelled waiting job reads `cancelled` at once, with Ray's own PENDING
beside it. What Ray cannot tell (names, attempts, labels, when a job left the
queue, jobs it forgot) lives in `ray_index.py`.

Jobs submitted outside aiqu are listed while active, labelled
`submitted_by=ray:<metadata user or unknown>`, never the agent's own; a finished
one is still found by its id. Their name is the `MLOPS_JOB` of their runtime env
(what their reporter says), else their submission id; their GPUs are not known
(Ray's Jobs API does not say what a job asked for).

Collaborators: the request sent for a submission (`ray_request.py`), one job in the
shared words (`ray_jobs.py`), looking after our jobs (`ray_keeper.py`).
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
import time
from collections.abc import Callable, Collection
from functools import partial
from pathlib import Path

from orjson import loads

from core.skill_env import SkillEnvironment

from .base import Health, Job, Jobs, JobSpec, SchedulerError
from .processes import tail_text
from .ray_api import RayDashboard, read_headers
from .ray_index import CANCEL, RayIndex, Rows
from .ray_jobs import forgotten, job_of, name_of
from .ray_keeper import RayKeeper
from .ray_package import ship
from .ray_records import Listing, RayRecord, job_output, submission_jobs
from .ray_request import entrypoint, submission_request, validate

log = logging.getLogger(__name__)

JOB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
ID_PREFIX = "aiqu-"


class RayScheduler:
    def __init__(
        self,
        state_dir: Path,
        dashboard: RayDashboard,
        *,
        env: SkillEnvironment | None = None,
        poll_interval_s: float = 5.0,
        cancel_wait_s: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._ray = dashboard
        self._index = RayIndex(state_dir)
        self._skill_env = env or SkillEnvironment()
        self._poll = poll_interval_s
        self._cancel_wait = cancel_wait_s
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_failure = ""
        self._keeper = RayKeeper(self._index, dashboard, clock)

    @classmethod
    def from_env(cls, env: SkillEnvironment) -> RayScheduler:
        """`MLOPS_RAY_ADDRESS`: the dashboard's URL (http://ray-head:8265), as this machine
        reaches it; `MLOPS_RAY_HEADERS_FILE` (optional): a JSON object of HTTP headers sent
        with every request, e.g. a token for a proxy or Ray's token auth."""
        own = env.extra
        address = own.get("MLOPS_RAY_ADDRESS", "").strip()
        if not address:
            raise SchedulerError(
                "MLOPS_SCHEDULER=ray needs MLOPS_RAY_ADDRESS, the Ray dashboard's URL,"
                " e.g. http://ray-head:8265"
            )
        if not re.match(r"https?://[^/\s]+", address):
            raise SchedulerError(
                f"MLOPS_RAY_ADDRESS must be the dashboard's http(s) URL, e.g."
                f" http://ray-head:8265; got {address!r}"
            )
        headers_file = own.get("MLOPS_RAY_HEADERS_FILE", "").strip()
        headers = read_headers(Path(headers_file)) if headers_file else {}
        return cls(env.state, RayDashboard(address, headers), env=env)

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> None:
        """Look after our jobs in the background (time limits, when they leave the queue)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="aiqu-ray", daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Stop looking; the jobs run on."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        self._ray.close()

    def _loop(self) -> None:
        while not self._stop.wait(self._poll):
            try:
                self.tend()
            except Exception as exc:  # Ray may be down for a while: the next pass tries again
                if str(exc) != self._last_failure:
                    log.warning("aiqu ray pass failed: %s", exc)
                self._last_failure = str(exc)

    # -- Scheduler -------------------------------------------------------------------

    def submit(self, spec: JobSpec) -> Job:
        validate(spec)
        # Uploaded first: a large workdir must not hold the index's write lock.
        working_dir = ship(self._ray, Path(spec.workdir)) if spec.workdir else None
        job_id = ID_PREFIX + secrets.token_hex(6)
        with self._index.submitting(spec.name) as (attempt, conn):
            self._index.add(conn, job_id, spec, attempt, self._clock())
            request = submission_request(self._skill_env, job_id, spec, attempt, working_dir)
            self._ray.submit(request)
        return self.get(job_id)

    def get(self, job_id: str) -> Job:
        _check_id(job_id)
        row = self._index.row(job_id)
        if row is not None and row["final"]:
            # Its stop too: a job aiqu stopped ended for aiqu's reason (its time limit, a
            # cancel before it started), whichever pass stored the end.
            final = RayRecord.stored(loads(row["final"]))
            return job_of(job_id, row, final, self._index.stops(job_id))
        raw = self._ray.job(job_id)
        record = submission_jobs([raw]).get(job_id) if raw else None
        if row is None:
            if record is None:
                raise self._unknown(job_id)
            row = self._index.row(job_id)  # submitted by another process meanwhile?
            if row is None:
                return job_of(job_id, None, record, self._index.stops())
        # The row was written once Ray had taken the job: if Ray lacks it now, it forgot.
        return self._keeper.jobs_of([row], {job_id: record or forgotten(job_id)})[0]

    def list(self, *, include_finished: bool = True) -> list[Job]:
        # Our rows first, then Ray: a job whose row is read was taken by Ray before (so
        # one missing from the listing was forgotten); rows written since come after.
        rows = self._index.rows("" if include_finished else "WHERE final IS NULL")
        held = submission_jobs(self._ray.jobs())
        rows += self._late_rows(held, rows, lambda i: include_finished or held.active(i))
        jobs = self._keeper.jobs_of(rows, held)
        ours = {r["id"] for r in rows}
        stops = self._index.stops()
        jobs += [
            job_of(job_id, None, held[job_id], stops)
            for job_id in held
            if job_id not in ours and held.active(job_id)
        ]
        listed = sorted(jobs, key=lambda j: j.submitted_at, reverse=True)
        return [j for j in listed if include_finished or j.state.active]

    def cancel(self, job_id: str) -> Job:
        job = self.get(job_id)
        if not job.state.active:
            raise SchedulerError(
                f"job {job_id} already {job.state}; only pending or running jobs can be cancelled"
            )
        self._index.stopping(job_id, CANCEL, self._clock())
        self._ray.stop(job_id)
        deadline = time.monotonic() + self._cancel_wait
        while (job := self.get(job_id)).state.active and time.monotonic() < deadline:
            time.sleep(0.2)
        return job

    def requeue(self, job_id: str) -> Job:
        _check_id(job_id)
        row = self._index.row(job_id)
        if row is None:
            if self._ray.job(job_id) is None:
                raise self._unknown(job_id)
            raise SchedulerError(
                f"job {job_id} was not submitted through aiqu, so its command is unknown;"
                " submit it as a new job instead"
            )
        return self.submit(JobSpec(**loads(row["spec"])))

    def logs(self, job_id: str, lines: int = 50) -> str:
        _check_id(job_id)
        text = self._ray.logs(job_id)
        if text is None:
            if self._index.row(job_id) is None:
                raise self._unknown(job_id)
            raise SchedulerError(
                f"Ray no longer holds job {job_id} nor its log (its head restarted, or the"
                " job was deleted)"
            )
        return tail_text(job_output(text, job_id, self._entrypoint(job_id)), lines)

    def gpu_total(self) -> int:
        nodes = [n for n in self._ray.nodes() if n.get("state") == "ALIVE"]
        return int(sum((n.get("resources_total") or {}).get("GPU", 0) for n in nodes))

    def snapshot(
        self,
        job_ids: Collection[str] = (),
        ended_since: float = 0.0,
        others: Callable[[str], bool] | None = None,
    ) -> Jobs:
        """One listing for the watcher's pass: every active job, those ended at or after
        `ended_since`, the ids asked for; of other people's jobs only those `others` names.
        Jobs of ours that Ray forgot come from the index."""
        wanted = {i for i in job_ids if JOB_ID.fullmatch(i)}
        ended = "WHERE final IS NULL OR json_extract(final, '$.ended_at') >= ?"
        rows = {r["id"]: r for r in self._index.rows(ended, (ended_since,))}
        rows.update((r["id"], r) for r in self._index.rows_of(wanted - rows.keys()))
        held = submission_jobs(self._ray.jobs())
        recent = partial(held.recent, since=ended_since)
        rows.update((r["id"], r) for r in self._late_rows(held, list(rows.values()), recent))
        jobs = self._keeper.jobs_of(list(rows.values()), held)
        stops = self._index.stops()
        for job_id in held:
            if job_id in rows or not (job_id in wanted or recent(job_id)):
                continue
            record = held[job_id]
            if job_id in wanted or others is None or others(name_of(job_id, record)):
                jobs.append(job_of(job_id, None, record, stops))
        return jobs

    def health(self) -> Health:
        """Which cluster, which Ray, how many GPUs, or what is wrong."""
        try:
            version = self._ray.version()
            nodes = [n for n in self._ray.nodes() if n.get("state") == "ALIVE"]
        except SchedulerError as exc:
            return Health(False, str(exc))
        total: dict[str, float] = {}
        for node in nodes:
            for resource, amount in (node.get("resources_total") or {}).items():
                total[resource] = total.get(resource, 0) + amount
        return Health(
            True,
            f"Ray {version.get('ray_version', '?')} cluster at {self._ray.address}"
            f" ({version.get('session_name', 'unnamed session')}): {len(nodes)} node(s),"
            f" {int(total.get('GPU', 0))} GPU(s), {int(total.get('CPU', 0))} CPU(s)",
        )

    # -- looking after our jobs ----------------------------------------------------

    def tend(self) -> None:
        """The background pass (see ray_keeper.py)."""
        self._keeper.tend()

    def _late_rows(self, held: Listing, rows: Rows, wanted: Callable[[str], bool]) -> Rows:
        """Rows written after `rows` were read whose jobs are already in `held`, of the jobs
        `wanted` says the caller reads (a job submitted meanwhile is recent)."""
        known = {r["id"] for r in rows}
        late = [i for i in held if i.startswith(ID_PREFIX) and i not in known and wanted(i)]
        return self._index.rows_of(late) if late else []

    # -- helpers -------------------------------------------------------------------

    def _entrypoint(self, job_id: str) -> str:
        row = self._index.row(job_id)
        if row is not None:
            return entrypoint(JobSpec(**loads(row["spec"])).command)
        raw = self._ray.job(job_id) or {}
        return str(raw.get("entrypoint") or "")

    def _unknown(self, job_id: str) -> SchedulerError:
        recent = [r["id"] for r in self._index.rows("ORDER BY submitted_at DESC LIMIT 10")]
        return SchedulerError(
            f"unknown Ray job id {job_id!r}; recent ids: {', '.join(recent) or 'none yet'}"
        )


def _check_id(job_id: str) -> None:
    # The id becomes a URL path segment: one plain word, never a path.
    if not JOB_ID.fullmatch(job_id):
        raise SchedulerError(
            f"Ray job ids look like 'aiqu-3f9c2a1b7e4d' or 'raysubmit_Ab12Cd34'; got {job_id!r}"
        )
