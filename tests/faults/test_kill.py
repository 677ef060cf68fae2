"""kill -9 in the middle of a pull, a create, a chat and a history write: nothing half-made survives.

The next start of ember checks the store (temp files of dead writers removed, no half model listed)
and the conversation holds every message the user sent.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ember.backend.store.modelstore import ModelStore

from tests.faults.conftest import MODEL, debris, ember, env_for, listed
from tests.security.ggufs import tiny_gguf

POINTS = [("pull", ("blob", 1)), ("pull", ("blob", 2)), ("pull", ("manifest", 1)),
          ("create", ("blob", 1)), ("create", ("manifest", 1))]


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("verb", "kill_at"), POINTS, ids=[f"{v}-{a}{n}" for v, (a, n) in POINTS])
def test_a_kill_mid_write_leaves_no_half_model_and_the_next_start_clears_it(
        home: Path, verb: str, kill_at: tuple[str, int]) -> None:
    if verb == "pull":
        args = ["pull", str(tiny_gguf(home / "Tiny-Q8_0.gguf"))]
    else:
        (home / "Modelfile").write_text(f"FROM {MODEL}\nSYSTEM You were interrupted.\n")
        args = ["create", "sec/killed", "-f", str(home / "Modelfile")]
    killed = ember(home, *args, kill_at=kill_at)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert debris(home), "the kill should have left a finished temp file behind"

    assert listed(home) == [MODEL]  # the next start: no half model, and the debris is gone
    assert debris(home) == []
    check = ModelStore(home / "models").recover()
    assert check.removed == [] and check.damaged == {}

    again = ember(home, *args)
    assert again.returncode == 0, again.stderr
    models = listed(home)
    assert len(models) == 2 and MODEL in models
    new = next(m for m in models if m != MODEL)
    assert ember(home, "show", new).returncode == 0


def test_the_self_check_removes_only_what_dead_writers_left(tmp_path: Path) -> None:
    store = ModelStore(tmp_path / "models")
    store.write_bytes(b"config", "application/json")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        manifests = store.manifests / "registry.ollama.ai" / "library" / "m"
        manifests.mkdir(parents=True)
        stale = [store.blobs / f".partial-{dead}-1", manifests / f".partial-{dead}-latest",
                 store.root / f".partial-{dead}-verified.json"]
        kept = [store.blobs / f".partial-{alive.pid}-2", store.blobs / f".partial-sha256-{'a' * 64}"]
        for path in stale + kept:
            path.write_bytes(b"half")
        (manifests / "broken").write_text('{"config": ')  # a manifest written by something else, cut short
        check = store.recover()
        assert sorted(check.removed) == sorted(stale)
        assert all(p.exists() for p in kept) and not any(p.exists() for p in stale)
        assert list(check.damaged) == ["m:broken"] and "damaged" in check.damaged["m:broken"]
    finally:
        alive.kill()
        alive.wait()


@pytest.mark.timeout(120)
def test_kill_9_mid_answer_keeps_every_message_and_the_answer_so_far(home: Path) -> None:
    db = home / "data" / "history.db"
    sent = ["What is the capital of France?", "And of Italy?", "Tell me a long story about Rome."]
    proc = subprocess.Popen([sys.executable, "-m", "tests.faults.chatter", MODEL, str(db), *sent],
                            env=env_for(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.strip() == f"SENT {len(sent)}":
            time.sleep(1.5)  # well into the last answer, past a few of its saves to the history
            break
    else:
        pytest.fail(f"the chat never reached its last answer: {proc.stderr.read() if proc.stderr else ''}")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    from ember.backend.history import History

    history = History(db)
    assert history.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    [conversation] = history.conversations()
    messages = history.messages(conversation.id)
    assert [m.content for m in messages if m.role == "user"] == sent
    # the answer being written when the kill came is kept as far as it had streamed
    assert [m.role for m in messages] == ["user", "assistant"] * 3
    assert all(m.content for m in messages)
    history.close()
    assert listed(home) == [MODEL]
    assert ModelStore(home / "models").recover().damaged == {}


WRITER = """
import sys
from pathlib import Path
from ember.backend.history import History
history = History(Path(sys.argv[1]))
conversation = history.new_conversation(model="m")
n = 0
while True:
    n += 1
    history.add_message(conversation.id, "user", f"message {n} " + "x" * (n % 700))
    print(n, flush=True)
"""


@pytest.mark.timeout(60)
@pytest.mark.parametrize("after", [1, 40, 400])
def test_kill_9_during_history_writes_loses_no_acknowledged_message(tmp_path: Path, after: int) -> None:
    db = tmp_path / "history.db"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(db)], stdout=subprocess.PIPE, text=True,
                            cwd=Path(__file__).parents[2])
    assert proc.stdout is not None
    acknowledged = 0
    for line in proc.stdout:
        acknowledged = int(line)
        if acknowledged >= after:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with sqlite3.connect(db) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    from ember.backend.history import History

    history = History(db)
    stored = [m.content.split()[1] for m in history.messages(history.conversations()[0].id)]
    assert stored[:acknowledged] == [str(n) for n in range(1, acknowledged + 1)]
    history.close()
