"""`ember serve`: the streamed decode rate through the HTTP API against a bare llama.cpp loop, and the
server's memory beyond the model's weights and KV cache.

The server runs in its own process with a private model store; the bare loop runs here between
requests, so the two never compete for the cores. Usage: .venv/bin/python bench/server.py
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import MODEL, STORY, Row, machine, model_path, paired_row, print_table

EMBER = Path(sys.executable).parent / "ember"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """`ember serve` on a free loopback port with a store of its own."""

    def __init__(self, home: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "EMBER_DATA": str(home / "data"), "EMBER_CONFIG": str(home / "config"),
                    "EMBER_MODELS": str(home / "models"), "EMBER_HOST": f"127.0.0.1:{self.port}",
                    "EMBER_KEEP_ALIVE": "-1"}
        subprocess.run([str(EMBER), "pull", MODEL], env=self.env, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        self.process = subprocess.Popen([str(EMBER), "serve"], env=self.env, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE)
        self._wait()

    def _wait(self) -> None:
        import httpx

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"ember serve exited: {self.process.stderr.read().decode()[-2000:]}")
            try:
                httpx.get(f"{self.url}/api/version", timeout=1)
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("ember serve did not answer within 60 s")

    def decode_rate(self, prompt: str, tokens: int) -> float:
        """Client-side tokens per second between the first and the last streamed token."""
        import httpx

        body = {"model": MODEL, "prompt": prompt, "stream": True,
                "options": {"temperature": 0, "num_predict": tokens, "repeat_penalty": 1.0}}
        stamps, received = [], []
        with httpx.stream("POST", f"{self.url}/api/generate", json=body, timeout=300) as response:
            response.raise_for_status()
            for data in response.iter_raw():  # raw bytes: the client's own parsing would slow the server
                stamps.append(time.perf_counter())
                received.append(data)
        lines = b"".join(received).splitlines()
        count = json.loads(lines[-1])["eval_count"]  # a line may carry several tokens: count tokens
        stamps.pop()  # the last line: after the last token
        return (count - 1) / (stamps[-1] - stamps[0])

    def memory(self) -> tuple[int, int]:
        """(resident bytes now, peak resident bytes) of the server process."""
        values = {}
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) * 1024
        return values["VmRSS"], values["VmHWM"]

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def measure(home: Path, *, tokens: int = 64, rounds: int = 9) -> list[Row]:
    from bare import BareContext, load_model
    from ember.backend.engine.memory import kv_cache_bytes
    from ember.backend.engine.runner import default_threads
    from ember.backend.store.ggufmeta import read_gguf_meta

    path = model_path()
    server = Server(home)
    try:
        model = load_model(path)
        bare = BareContext(model, num_ctx=4096, threads=default_threads())
        from ember.backend.engine.runner import Runner

        tokenizer = Runner(path, num_ctx=256, num_parallel=1)
        from common import chat_tokens

        prompt_tokens = chat_tokens(tokenizer, [("user", STORY)])
        tokenizer.close()
        server.decode_rate(STORY, 8)  # loads the model
        bare.decode(prompt_tokens, 8)
        api, loop = [], []
        for _ in range(rounds):
            api.append(server.decode_rate(STORY, tokens))
            loop.append(bare.decode(prompt_tokens, tokens))
        bare.close()
        rss, peak = server.memory()
    finally:
        server.close()
    meta = read_gguf_meta(path)
    parallel = int(os.environ.get("EMBER_NUM_PARALLEL", "4"))
    weights = path.stat().st_size
    kv = kv_cache_bytes(meta.kv, meta.architecture, 4096 * parallel)
    mib = 1 << 20
    return [
        paired_row(f"decode via API, streamed ({tokens} t)", api, loop, "t/s", ">= 0.97", "bare llama.cpp loop"),
        Row("server peak RSS", peak / mib, (weights + kv) / mib, "MiB", "", f"weights + KV ({parallel}×4096)"),
        Row("server RSS beyond weights + KV", (peak - weights - kv) / mib, 150, "MiB", "< 150 MiB",
            "the target"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        print_table(measure(Path(home), tokens=args.tokens, rounds=args.rounds), machine())


if __name__ == "__main__":
    main()
