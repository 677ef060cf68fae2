"""Load: many clients at once against `ember serve` — errors, latency percentiles, and the server's memory.

Each client loops over generate and chat (streamed and not), OpenAI's streamed chat, tags and show
until the time is up. The server runs in its own process with a private store, so its resident
memory is measured before (after a warm-up) and after (once it settles); it should stay flat.

    .venv/bin/python bench/load.py                      # 50 clients, 60 seconds
    .venv/bin/python bench/load.py --clients 20 --seconds 10 --url http://127.0.0.1:11434

The test suite runs a short version (tests/faults/test_load.py) asserting zero errors.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

MODEL = "smollm2:135m"
KINDS = ("generate", "chat-stream", "tags", "generate-stream", "chat", "show", "openai-stream")


@dataclass
class LoadResult:
    seconds: float = 0.0
    latencies: dict[str, list[float]] = field(default_factory=lambda: {kind: [] for kind in KINDS})
    errors: list[str] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return sum(len(v) for v in self.latencies.values()) + len(self.errors)

    def percentiles(self, kind: str) -> tuple[float, float, float]:
        values = sorted(self.latencies[kind])
        if not values:
            return (0.0, 0.0, 0.0)
        if len(values) == 1:
            return (values[0],) * 3
        cuts = statistics.quantiles(values, n=100, method="inclusive")
        return cuts[49], cuts[94], cuts[98]


def _check_stream(lines: list[str], kind: str) -> None:
    if kind == "openai-stream":
        events = [line.removeprefix("data: ") for line in lines if line.startswith("data: ")]
        if not events or events[-1] != "[DONE]" or any('"error"' in e for e in events):
            raise RuntimeError(f"bad SSE stream: {events[-2:]}")
        return
    objects = [json.loads(line) for line in lines if line.strip()]
    if not objects or not objects[-1].get("done") or any("error" in o for o in objects):
        raise RuntimeError(f"bad NDJSON stream: {objects[-1:] if objects else 'empty'}")


async def _one(client: httpx.AsyncClient, kind: str, model: str, n: int, num_predict: int) -> None:
    options = {"num_predict": num_predict, "temperature": 0.7, "seed": n}
    prompt = f"In one sentence, what is the number {n} known for?"
    chat = [{"role": "user", "content": prompt}]
    if kind in ("tags", "show"):
        response = await (client.get("/api/tags") if kind == "tags" else client.post("/api/show", json={"model": model}))
        response.raise_for_status()
        return
    if kind in ("generate", "chat"):
        body = {"model": model, "stream": False, "options": options,
                **({"prompt": prompt} if kind == "generate" else {"messages": chat})}
        response = await client.post(f"/api/{kind}", json=body)
        response.raise_for_status()
        if not response.json().get("done"):
            raise RuntimeError(f"{kind} did not finish: {response.text[:200]}")
        return
    if kind == "openai-stream":
        path, body = "/v1/chat/completions", {"model": model, "messages": chat, "stream": True,
                                              "max_tokens": num_predict, "seed": n}
    else:
        path = "/api/generate" if kind == "generate-stream" else "/api/chat"
        body = {"model": model, "stream": True, "options": options,
                **({"prompt": prompt} if kind == "generate-stream" else {"messages": chat})}
    async with client.stream("POST", path, json=body) as response:
        response.raise_for_status()
        _check_stream([line async for line in response.aiter_lines()], kind)


async def _client(client: httpx.AsyncClient, model: str, deadline: float, first: int, result: LoadResult,
                  num_predict: int) -> None:
    n = first
    while time.monotonic() < deadline:
        kind = KINDS[n % len(KINDS)]
        start = time.perf_counter()
        try:
            await _one(client, kind, model, n, num_predict)
            result.latencies[kind].append(time.perf_counter() - start)
        except Exception as exc:  # every failure is counted and shown, none stops the run
            result.errors.append(f"{kind}: {type(exc).__name__}: {str(exc)[:200]}")
        n += 1


async def run_load(url: str, model: str = MODEL, *, clients: int = 50, seconds: float = 60.0,
                   num_predict: int = 16, headers: dict[str, str] | None = None) -> LoadResult:
    """`clients` concurrent clients for `seconds`; each request that is not right is an error."""
    result = LoadResult()
    limits = httpx.Limits(max_connections=clients + 4, max_keepalive_connections=clients + 4)
    async with httpx.AsyncClient(base_url=url, timeout=600, limits=limits, headers=headers) as client:
        start = time.monotonic()
        deadline = start + seconds
        await asyncio.gather(*(_client(client, model, deadline, i, result, num_predict) for i in range(clients)))
        result.seconds = time.monotonic() - start
    return result


# --- running it by hand ---------------------------------------------------------------------------


def rss_of(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(home: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`ember serve` on a free loopback port, with a store of its own holding the packaged model."""
    port = _free_port()
    env = {**os.environ, "EMBER_DATA": str(home / "data"), "EMBER_CONFIG": str(home / "config"),
           "EMBER_MODELS": str(home / "models"), "EMBER_HOST": f"127.0.0.1:{port}", "EMBER_KEEP_ALIVE": "-1"}
    ember = [sys.executable, "-m", "tui"]
    subprocess.run([*ember, "pull", MODEL], env=env, check=True, capture_output=True)
    server = subprocess.Popen([*ember, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/api/version", timeout=1).status_code == 200:
                return server, url
        except httpx.HTTPError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("ember serve did not start")


def report(result: LoadResult, clients: int, rss: tuple[int, int] | None) -> None:
    print(f"{clients} clients, {result.seconds:.0f} s: {result.requests} requests, {len(result.errors)} errors")
    print(f"{'request':<16}{'count':>7}{'p50 s':>9}{'p95 s':>9}{'p99 s':>9}")
    for kind in KINDS:
        p50, p95, p99 = result.percentiles(kind)
        print(f"{kind:<16}{len(result.latencies[kind]):>7}{p50:>9.2f}{p95:>9.2f}{p99:>9.2f}")
    for error in result.errors[:10]:
        print("error:", error)
    if rss:
        before, after = rss
        print(f"server RSS: {before / 2**20:.0f} MiB before, {after / 2**20:.0f} MiB after "
              f"({(after - before) / 2**20:+.0f} MiB)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--num-predict", type=int, default=16)
    parser.add_argument("--url", help="a running server (its memory is not measured); default: start one")
    args = parser.parse_args()
    if args.url:
        result = asyncio.run(run_load(args.url, clients=args.clients, seconds=args.seconds,
                                      num_predict=args.num_predict))
        report(result, args.clients, None)
        return 1 if result.errors else 0
    with tempfile.TemporaryDirectory() as home:
        server, url = start_server(Path(home))
        try:
            asyncio.run(run_load(url, clients=2, seconds=3, num_predict=4))  # warm-up: model loaded
            before = rss_of(server.pid)
            result = asyncio.run(run_load(url, clients=args.clients, seconds=args.seconds,
                                          num_predict=args.num_predict))
            time.sleep(5)  # let finished requests release what they held
            after = rss_of(server.pid)
            stuck = httpx.post(url + "/api/generate", timeout=60, json={
                "model": MODEL, "prompt": "hi", "stream": False, "options": {"num_predict": 1}})
            if stuck.status_code != 200:
                result.errors.append(f"after the run the server answered {stuck.status_code}")
        finally:
            server.terminate()
            server.wait(10)
        report(result, args.clients, (before, after))
    return 1 if result.errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
