"""The embedded model's process: llama.cpp's server inside, a tool-calling endpoint outside.

`python -m agent.model serve embedded --port P` loads the GGUF file into
llama.cpp's own server (`xllamacpp`, a prebuilt CPU build: nothing to compile)
on a private loopback port, and serves the model path (`agent.model.path`) on
P in front of it, with tool calls written as text repaired: an OpenAI-compatible
`/v1/chat/completions` that any client (opencode, `mlops-agent eval`, the bench)
can use as it is. The service starts it as a supervised child
(`agent.model.embedded`); run alone, it serves until SIGTERM or Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from agent.model.path import ModelPath

log = logging.getLogger(__name__)

# Prompt caches kept in RAM beyond the slots' own, so a slot that served another
# conversation can take the shared prefix back without processing it again.
CACHE_RAM_MIB = 1024
# Tokens per step of a prompt. A request whose caller went away (an aborted turn) stops
# only between steps: llama.cpp's default of 2048 was minutes of a 1.5B on a busy 2 cores.
BATCH = 512


@dataclass(frozen=True)
class ServerOptions:
    model_file: Path
    model_id: str
    port: int
    context: int  # tokens per slot
    slots: int  # requests served at once
    threads: int


def cpu_threads() -> int:
    """The cores this process may run on (a container's CPU set, not the host's)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_llama(options: ServerOptions) -> tuple[object, str]:
    """llama.cpp's server on a free loopback port; returns it (keep a reference) and its URL."""
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = str(options.model_file)
    params.model_alias = {options.model_id}
    params.hostnames = ["127.0.0.1"]
    params.port = _free_port()
    params.n_parallel = options.slots
    params.n_ctx = options.context * options.slots
    params.n_batch = BATCH
    params.cpuparams.n_threads = options.threads
    params.cpuparams_batch.n_threads = options.threads
    # Threads that wait for work sleep instead of spinning (llama.cpp's default polls): the
    # model shares the machine with the service, opencode, the skills and local jobs. Seen
    # with spinning: a 0.5B decoding 0.3 tokens/s beside other work on 2 cores.
    params.cpuparams.poll = 0
    params.cpuparams_batch.poll = 0
    params.use_jinja = True  # the model's own chat template, with its tool-call format
    params.cache_prompt = True
    params.cache_ram_mib = CACHE_RAM_MIB
    params.endpoint_metrics = True
    server = xllamacpp.Server(params)  # returns once the model is loaded and listening
    return server, f"http://127.0.0.1:{params.port}/v1"


async def serve(options: ServerOptions) -> None:
    began = time.monotonic()
    llama, url = await asyncio.to_thread(start_llama, options)
    path = ModelPath(url, repair_tool_text=True, stop_repeats=False, port=options.port)
    await path.start()
    log.info(
        "%s ready on %s in %.1f s (%d slots x %d tokens, %d threads)",
        options.model_id,
        path.url,
        time.monotonic() - began,
        options.slots,
        options.context,
        options.threads,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await path.stop()
        del llama


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="embedded or embedded-small")
    parser.add_argument("--dir", type=Path, default=Path(".models"), help="where the GGUF is")
    parser.add_argument("--port", type=int, default=8091)
    parser.add_argument("--context", type=int, default=16384, help="tokens per slot")
    parser.add_argument("--slots", type=int, default=1, help="requests served at once")
    parser.add_argument("--threads", type=int, default=0, help="default: the usable cores")


def main(args: argparse.Namespace) -> int:
    from agent.model.weights import EMBEDDED, WeightsError, verify_once

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    weights = EMBEDDED.get(args.model)
    if weights is None:
        print(f"unknown model {args.model!r}; choose one of {', '.join(EMBEDDED)}")
        return 2
    try:
        model_file = verify_once(weights, args.dir)
    except WeightsError as exc:
        print(exc)
        return 1
    options = ServerOptions(
        model_file=model_file,
        model_id=weights.model_id,
        port=args.port,
        context=args.context,
        slots=args.slots,
        threads=args.threads or cpu_threads(),
    )
    asyncio.run(serve(options))
    return 0
