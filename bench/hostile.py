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
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.load import KINDS, MODEL, LoadResult, run_load, start_server  # noqa: E402

HOSTILE_TEMPLATES = [
    "{{range 1000000000}}{{end}}",
    '{{printf "%999999999s" .Prompt}}',
    "{{range 100000}}{{range 100000}}{{end}}{{end}}",
    '{{ $x := "ab" }}{{ range 64 }}{{ $x = printf "%s%s" $x $x }}{{ end }}{{ $x }}',
    "{{with 1}}" * 3000 + "{{end}}" * 3000,
    '{{ $x := "a" }}{{ range 100000000 }}{{ $x = print $x "a" }}{{ end }}',
]


@dataclass
class HostileResult:
    refused: int = 0  # 400s naming a limit, as promised
    wrong: list[str] = field(default_factory=list)  # anything else


async def _hostile_client(client: httpx.AsyncClient, deadline: float, first: int, result: HostileResult) -> None:
    n = first
    while time.monotonic() < deadline:
        template = HOSTILE_TEMPLATES[n % len(HOSTILE_TEMPLATES)]
        body = {"model": MODEL, "prompt": "hi", "stream": False, "template": template,
                "options": {"num_predict": 4}}
        try:
            response = await client.post("/api/generate", json=body)
            error = response.json().get("error", "") if response.status_code == 400 else ""
            if "stopped" in error or "nested deeper" in error:
                result.refused += 1
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


def compare(alone: LoadResult, mixed: LoadResult, hostile: HostileResult, clients: int, extra: int) -> None:
    print(f"{clients} normal clients, alone: {alone.requests} requests, {len(alone.errors)} errors; "
          f"with {extra} hostile clients: {mixed.requests} requests, {len(mixed.errors)} errors")
    print(f"hostile requests: {hostile.refused} refused with a named limit, {len(hostile.wrong)} otherwise")
    print(f"{'request':<16}{'p50 alone':>10}{'p50 mixed':>10}{'p95 alone':>10}{'p95 mixed':>10}")
    for kind in KINDS:
        a50, a95, _ = alone.percentiles(kind)
        m50, m95, _ = mixed.percentiles(kind)
        print(f"{kind:<16}{a50:>10.2f}{m50:>10.2f}{a95:>10.2f}{m95:>10.2f}")
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
    compare(alone, mixed, hostile, args.clients, args.hostile)
    return 1 if mixed.errors or hostile.wrong else 0


if __name__ == "__main__":
    raise SystemExit(main())
