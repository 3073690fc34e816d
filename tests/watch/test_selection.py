"""Which jobs a watch pass reads past their name (the aiqu watch process's request)."""

from __future__ import annotations

import json

import pytest

from mcp_servers.aiqu.backends.base import Job, JobSpec, JobState
from mcp_servers.aiqu.watch.snapshot import BadRequest, WatchRequest


def job(name: str, job_id: str = "7", ours: bool = False) -> Job:
    spec = JobSpec(name, ["true"]) if ours else None
    return Job(job_id, name, 1, JobState.RUNNING, "RUNNING", None, 0, None, {}, 0.0, spec=spec)


def request(**kw: object) -> WatchRequest:
    return WatchRequest.parse(json.dumps({"since": 0, **kw}))


def test_watched_are_our_own_the_reported_the_globbed_and_the_followed() -> None:
    asked = request(names=["alice/reported"], globs=["team-x/**"], ids=["99"])

    assert asked.watches(job("anything/started-through-aiqu", ours=True))
    assert asked.watches(job("alice/reported"))
    assert asked.watches(job("team-x/nightly/run-3"))
    assert asked.watches(job("renamed-since", job_id="99"))
    assert not asked.watches(job("bob/someone-elses"))
    assert not asked.watches(job("team-xy/close-but-no"))


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", "not JSON"),
        ("[1]", "a request is a JSON object"),
        ('{"since": "yesterday"}', "since must be unix seconds"),
        ('{"names": "alice/x"}', "names must be a list of strings"),
    ],
)
def test_a_bad_request_says_what_is_wrong(line: str, message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        WatchRequest.parse(line)
