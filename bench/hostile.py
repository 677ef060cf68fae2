"""Hostile templates in the mix: do the other clients of `ember serve` still answer within their usual latency?

Runs the normal load of bench/load.py twice against one server: once alone, once with a few hostile
clients sending /api/generate with a `template` built to exhaust it (huge loops, printf widths, string
doubling, deep nesting). Each hostile request must get a 400 naming its limit; the report compares
the normal clients' latency percentiles of the two runs.

    .venv/bin/python bench/hostile.py                          # 20 clients + 4 hostile, 30 s each run
    .venv/bin/python bench/hostile.py --clients 4 --hostile 2 --seconds 5 --url http://127.0.0.1:11434
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.load import KINDS, MODEL, LoadResult, run_load, start_server  # noqa: E402


@dataclass(frozen=True)
class Hostile:
    """A template built to exhaust the server, and the limits its 400 may name."""

    template: str
    limits: tuple[str, ...]


# Under load the clock may stop a loop before its iteration count does: either is the promised 400.
_LOOPS = ("loops ran past their limit", "time limit")
HOSTILE = [
    Hostile("{{range 1000000000}}{{end}}", _LOOPS),
    Hostile('{{printf "%999999999s" .Prompt}}', ("width of 999999999 characters",)),
    Hostile("{{range 100000}}{{range 100000}}{{end}}{{end}}", _LOOPS),
    Hostile('{{ $x := "ab" }}{{ range 64 }}{{ $x = printf "%s%s" $x $x }}{{ end }}{{ $x }}',
            ("value of more than", "time limit")),
    Hostile("{{with 1}}" * 3000 + "{{end}}" * 3000, ("nested deeper than",)),
    Hostile('{{ $x := "a" }}{{ range 100000000 }}{{ $x = print $x "a" }}{{ end }}',
            (*_LOOPS, "value of more than")),
]
HOSTILE_TEMPLATES = [h.template for h in HOSTILE]


@dataclass
class HostileResult:
    refused: Counter[str] = field(default_factory=Counter)  # 400s naming the template's limit, by limit
    latencies: list[float] = field(default_factory=list)  # seconds until each such 400
    wrong: list[str] = field(default_factory=list)  # anything else

    @property
    def requests(self) -> int:
        return sum(self.refused.values()) + len(self.wrong)


def judge(hostile: Hostile, status: int, error: str) -> str:
    """The limit a hostile request's answer names, or "" when it is not the promised 400."""
    if status != 400:
        return ""
    return next((limit for limit in hostile.limits if limit in error), "")


async def _hostile_client(client: httpx.AsyncClient, deadline: float, first: int, result: HostileResult) -> None:
    n = first
    while time.monotonic() < deadline:
        hostile = HOSTILE[n % len(HOSTILE)]
        body = {"model": MODEL, "prompt": "hi", "stream": False, "template": hostile.template,
                "options": {"num_predict": 4}}
        start = time.perf_counter()
        try:
            response = await client.post("/api/generate", json=body)
            error = response.json().get("error", "") if response.status_code == 400 else ""
            if limit := judge(hostile, response.status_code, error):
                result.refused[limit] += 1
                result.latencies.append(time.perf_counter() - start)
            else:
                result.wrong.append(f"{response.status_code}: {response.text[:160]}")
        except Exception as exc:  # counted, never stops the run
            result.wrong.append(f"{type(exc).__name__}: {str(exc)[:160]}")
        n += 1


async def run_mixed(url: str, *, clients: int, hostile: int, seconds: float,
                    num_predict: int) -> tuple[LoadResult, HostileResult]:
    result = HostileResult()
    async with httpx.AsyncClient(base_url=url, timeout=600) as client:
        deadline = time.monotonic() + seconds
        attackers = [_hostile_client(client, deadline, i, result) for i in range(hostile)]
        normal, *_ = await asyncio.gather(run_load(url, clients=clients, seconds=seconds, num_predict=num_predict),
                                          *attackers)
    return normal, result


def _cell(values: list[float], which: int) -> str:
    if not values:
        return f"{'-':>9}"
    cuts = sorted(values) if len(values) == 1 else statistics.quantiles(values, n=100, method="inclusive")
    return f"{cuts[min(which, len(cuts) - 1)]:>9.2f}"


def machine() -> str:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"load average {os.getloadavg()[0]:.1f} on {cores} cores"


def compare(alone: LoadResult, mixed: LoadResult, hostile: HostileResult, clients: int, extra: int,
            machine_before: str) -> None:
    print(f"machine: {machine_before} before, {machine()} after (other work on it moves every figure)")
    print(f"{clients} normal clients, alone: {alone.requests} requests, {len(alone.errors)} errors; "
          f"with {extra} hostile clients: {mixed.requests} requests, {len(mixed.errors)} errors")
    limits = ", ".join(f"{n} × {limit!r}" for limit, n in hostile.refused.most_common())
    print(f"hostile requests: {hostile.requests}, of which {sum(hostile.refused.values())} got a 400 naming "
          f"their limit ({limits or 'none'}) and {len(hostile.wrong)} did not; "
          f"seconds to that 400: p50 {_cell(hostile.latencies, 49).strip()}, "
          f"max {max(hostile.latencies, default=0.0):.2f}")
    print("normal clients' latency in seconds, alone and with the hostile clients:")
    print(f"{'request':<16}{'n alone':>8}{'n mixed':>8}{'p50 alone':>10}{'p50 mixed':>10}"
          f"{'p95 alone':>10}{'p95 mixed':>10}")
    for kind in KINDS:
        a, m = alone.latencies[kind], mixed.latencies[kind]
        print(f"{kind:<16}{len(a):>8}{len(m):>8} {_cell(a, 49)} {_cell(m, 49)} {_cell(a, 94)} {_cell(m, 94)}")
    for line in (mixed.errors + hostile.wrong)[:10]:
        print("error:", line)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--hostile", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--num-predict", type=int, default=16)
    parser.add_argument("--url", help="a running server; default: start one with a store of its own")
    args = parser.parse_args()

    machine_before = machine()

    def both(url: str) -> tuple[LoadResult, LoadResult, HostileResult]:
        asyncio.run(run_load(url, clients=2, seconds=2, num_predict=2))  # warm-up: the model is loaded
        alone = asyncio.run(run_load(url, clients=args.clients, seconds=args.seconds, num_predict=args.num_predict))
        mixed, hostile = asyncio.run(run_mixed(url, clients=args.clients, hostile=args.hostile,
                                               seconds=args.seconds, num_predict=args.num_predict))
        return alone, mixed, hostile

    if args.url:
        alone, mixed, hostile = both(args.url)
    else:
        with tempfile.TemporaryDirectory() as home:
            server, url = start_server(Path(home))
            try:
                alone, mixed, hostile = both(url)
            finally:
                server.terminate()
                server.wait(10)
    compare(alone, mixed, hostile, args.clients, args.hostile, machine_before)
    return 1 if mixed.errors or hostile.wrong or not hostile.refused else 0


if __name__ == "__main__":
    raise SystemExit(main())
