"""Benchmark: a training event in → the agent's reply visible in the web page, next to Slack.

    .venv/bin/python bench/bench_web.py [--events 30]

The whole service runs in this process as in `bench_turns.py` (real opencode
and skills, a scripted model that answers at once, the fake Slack), with the
web page alongside Slack (`MLOPS_WEB=on`, the default) and one web user
signed in from headless Chromium (Debian's, driven by Playwright, with the
loopback-only flags of tests/web/browser.py). Two pages stay open all along:
a job's thread, and the thread list.

Every reply reaches both chats from the same turn, so both figures come from
the same events, one at a time:

- Slack path: the signed POST → the reply's `chat.postMessage` at the fake Slack
  (the baseline: what `bench_turns` measures).
- Web path: the signed POST → the reply's text in the page's DOM (a
  MutationObserver notes the browser's clock; same machine, same clock).
  The outbox writes the transcript after the chat's post returns, then the page
  hears of it over server-sent events and fetches the changed part.

Scenarios: `--events` events to one job (its open thread page), then `--events`
events to distinct jobs (each a new thread, watched in the thread list).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agent.accounts.users import hash_password  # noqa: E402
from bench.bench_turns import EventSender, bench_service, quantiles_ms  # noqa: E402
from tests.fakes.slack import FakeSlack  # noqa: E402
from tests.web.browser import CHROMIUM, QUIET, sign_in  # noqa: E402

USER, PASSWORD = "bench", "bench-pass-1"
SAME_JOB = "bench/web-same"
WAIT_S = 60.0

# Notes the browser's clock (ms since the epoch) when `mark` first shows in `selector`.
WATCH = """([selector, mark]) => {
  window.__seenAt = null;
  const seen = () => {
    const el = document.querySelector(selector);
    if (window.__seenAt === null && el && el.textContent.includes(mark)) {
      window.__seenAt = Date.now();
      observer.disconnect();
    }
  };
  const observer = new MutationObserver(seen);
  observer.observe(document.body, { subtree: true, childList: true, characterData: true });
  seen();
}"""


async def one_event(
    sender: EventSender, slack: FakeSlack, page: Any, selector: str, job: str, epoch: int
) -> tuple[float, float]:
    """(seconds to the Slack post, seconds to the text in the page) for one event."""
    mark = uuid.uuid4().hex[:12]
    reply = f"seen {mark}"  # bench_turns.echo_mark's answer
    await page.evaluate(WATCH, [selector, reply])
    t0 = time.time()
    await sender.send(type="epoch", job=job, epoch=epoch, metrics={"loss": 0.43}, mark=mark)
    await slack.wait_for_post(lambda p: p.text == reply, timeout=WAIT_S)
    slack_s = time.time() - t0
    await page.wait_for_function("() => window.__seenAt !== null", timeout=WAIT_S * 1000)
    page_s = await page.evaluate("window.__seenAt") / 1000 - t0
    return slack_s, page_s


async def measure(events: int) -> None:
    from playwright.async_api import async_playwright

    users = {USER: {"password": hash_password(PASSWORD), "approver": False}}
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        async with (
            bench_service(Path(tmp), web_users=json.dumps(users)) as (service, _, slack),
            async_playwright() as playwright,
        ):
            browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=QUIET)
            print(f"service and browser started in {time.perf_counter() - t0:.1f} s")
            sender = EventSender(service.url, service.secret)
            try:
                # Warm-up: opencode's and the skills' lazy starts, and the job's thread.
                await sender.send(type="epoch", job=SAME_JOB, epoch=0, mark="warmup")
                await slack.wait_for_post(lambda p: p.text == "seen warmup", timeout=WAIT_S)
                thread = await sign_in(browser, service.url, USER, PASSWORD)
                await thread.goto(f"{service.url}/c/job:{SAME_JOB}")
                threads = await sign_in(browser, service.url, USER, PASSWORD)
                # Both pages live (their event streams open) before anything is timed.
                await one_event(sender, slack, thread, "#thread-body", SAME_JOB, 1)
                await one_event(sender, slack, threads, "#thread-list", "bench/web-warm", 1)

                times: dict[str, tuple[list[float], list[float]]] = {}
                for label, page, selector in (
                    ("one job, its thread open", thread, "#thread-body"),
                    ("distinct jobs, the thread list", threads, "#thread-list"),
                ):
                    slack_s, page_s = [], []
                    for i in range(events):
                        job = SAME_JOB if page is thread else f"bench/web-new-{i}"
                        s, p = await one_event(sender, slack, page, selector, job, i + 2)
                        slack_s.append(s)
                        page_s.append(p)
                    times[label] = (slack_s, page_s)
            finally:
                await sender.close()
                await browser.close()

    print(f"\nevent in → reply visible, {events} events per scenario, one at a time:")
    for label, (slack_s, page_s) in times.items():
        extra = [p - s for s, p in zip(slack_s, page_s, strict=True)]
        print(f"  {label}:")
        print(f"    Slack post (fake Slack)   {quantiles_ms(slack_s)}   (baseline)")
        print(f"    web page (Chromium DOM)   {quantiles_ms(page_s)}")
        print(f"    page after the Slack post {quantiles_ms(extra)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=30)
    args = parser.parse_args()
    if not CHROMIUM.exists():
        print(f"skipped: no Chromium at {CHROMIUM} (scripts/install-system-packages.sh, as root)")
        return
    asyncio.run(measure(args.events))


if __name__ == "__main__":
    main()
