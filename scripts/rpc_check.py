"""One model across several machines, proven on one: llama.cpp's RPC backend, driven by ember.

Builds llama.cpp's `rpc-server` and `llama-server` with -DGGML_RPC=ON from the tree llama-cpp-python
vendors (once, cached beside the benchmark's build: bench/llama_build.py), starts two `rpc-server`s on
loopback ports, and a `llama-server --rpc` over both with every layer offloaded (-ngl 99), so the
weights live in the two workers. Then it drives that server as a user would, through ember's OpenAI
backend: `ember --host URL/v1 list`, `ember --host URL/v1 run MODEL PROMPT`, a plain chat that switches
persona, and embeddings. It prints one line per check and exits non-zero when one fails.

Usage: .venv/bin/python scripts/rpc_check.py   (the first run adds the build's minutes)
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

ALIAS = "smollm2-rpc"
WORKERS = 2


@dataclass
class Report:
    results: list[tuple[bool, str]] = field(default_factory=list)

    def check(self, ok: bool, what: str) -> bool:
        self.results.append((ok, what))
        print(f"{'ok  ' if ok else 'FAIL'} {what}", flush=True)
        return ok

    @property
    def passed(self) -> bool:
        return all(ok for ok, _ in self.results)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited with {process.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"nothing listens on port {port} after {seconds:.0f} s")


def ember(*args: str, stdin: str | None = None, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "EMBER_CONFIG": str(home / "config"), "EMBER_DATA": str(home / "data"),
           "EMBER_MODELS": str(home / "models"), "NO_COLOR": "1", "TERM": "dumb"}
    env.pop("EMBER_HOST", None)
    return subprocess.run([sys.executable, "-m", "ember.tui", *args], input=stdin, text=True,
                          capture_output=True, timeout=300, env=env)


def offloaded(log: str) -> dict[str, float]:
    """MiB of model weights llama.cpp placed on each RPC device, read from llama-server's log."""
    return {m.group(1): float(m.group(2))
            for m in re.finditer(r"(RPC\d*\[[^\]]+\]|RPC\d+)\s+model buffer size\s*=\s*([\d.]+) MiB", log)}


async def embeddings(url: str) -> list[list[float]]:
    from ember.tui.cli.remote_verbs import connect

    backend = connect(url, "openai", "")
    try:
        return await backend.embed(ALIAS, ["the lighthouse keeper", "a mountain village"])
    finally:
        await backend.close()


async def persona_chat(url: str) -> tuple[str, str, bool]:
    """The chat the app and the plain REPL run (their ChatSession), over the same backend: /persona, then
    a question; what /persona said, the answer, and whether the persona's turns went with the question."""
    from ember.tui.chat.session import ChatSession, ChatState
    from ember.tui.chat.slash_run import run_command
    from ember.tui.cli.remote_verbs import connect

    backend = connect(url, "openai", "")
    try:
        session = ChatSession(backend, ChatState(model=ALIAS))
        said = (await run_command(session, "/persona shell")).text or ""
        session.add_user("How do I list the files in a folder?")
        sent = session.request().messages
        with_persona = bool(sent) and sent[0].role == "system" and "shell" in sent[0].content.lower()
        parts = [chunk.text async for chunk in session.answer()]
        return said, "".join(parts), with_persona
    finally:
        await backend.close()


def drive(url: str, home: Path, report: Report) -> None:
    listed = ember("--host", url, "list", home=home)
    report.check(listed.returncode == 0 and ALIAS in listed.stdout, f"ember --host {url} list shows {ALIAS}")
    answer = ember("--host", url, "run", ALIAS, "Name three colours.", home=home)
    report.check(answer.returncode == 0 and len(answer.stdout.strip()) > 0,
                 f"ember --host … run {ALIAS} answered ({len(answer.stdout.split())} words)")
    said, answer_text, with_persona = asyncio.run(persona_chat(url))
    report.check(said.startswith("Persona 'Shell'") and with_persona and len(answer_text.split()) > 3,
                 "a chat switched to the shell persona (/persona shell: its system prompt and example turns "
                 f"sent) and was answered ({len(answer_text.split())} words)")
    vectors = asyncio.run(embeddings(url))
    report.check(len(vectors) == 2 and len(vectors[0]) > 0 and vectors[0] != vectors[1],
                 f"embeddings through the same backend: 2 vectors of {len(vectors[0]) if vectors else 0}")


def main() -> int:
    from common import model_path
    from llama_build import build, wait_healthy

    binaries = build(flavour="rpc", targets=("llama-server", "ggml-rpc-server"), options=("-DGGML_RPC=ON",))
    gguf = model_path()
    report = Report()
    processes: list[subprocess.Popen[bytes]] = []
    logs = [tempfile.TemporaryFile() for _ in range(WORKERS + 1)]
    try:
        workers = []
        for i in range(WORKERS):
            port = free_port()
            worker = subprocess.Popen([str(binaries / "ggml-rpc-server"), "-H", "127.0.0.1", "-p", str(port),
                                       "-t", "1"], stdout=logs[i], stderr=subprocess.STDOUT)
            processes.append(worker)
            wait_for_port(port, worker)
            workers.append(f"127.0.0.1:{port}")
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = subprocess.Popen(
            [str(binaries / "llama-server"), "-m", str(gguf), "--alias", ALIAS, "-ngl", "99", "--rpc",
             ",".join(workers), "--host", "127.0.0.1", "--port", str(port), "-c", "2048", "--embeddings",
             "--pooling", "mean", "--no-webui", "-lv", "4"], stdout=logs[-1], stderr=subprocess.STDOUT)
        processes.append(server)
        wait_healthy(url, server, 180)
        logs[-1].seek(0)
        placed = offloaded(logs[-1].read().decode(errors="replace"))
        report.check(len(placed) == WORKERS and all(size > 0 for size in placed.values()),
                     f"the weights were split over {WORKERS} rpc-servers: "
                     + ", ".join(f"{device} {size:.1f} MiB" for device, size in placed.items()))
        with tempfile.TemporaryDirectory() as home:
            drive(f"{url}/v1", Path(home), report)
    finally:
        for process in reversed(processes):
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
    print("all held" if report.passed else "some checks failed")
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
