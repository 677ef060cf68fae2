"""A full disk: one clear line, nothing half-written, and the same command works once there is room.

Writes past RLIMIT_FSIZE fail with EFBIG exactly where a full disk fails with ENOSPC, so a
subprocess with a small limit is a full disk without needing a mount.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.faults.conftest import MODEL, ROOT, debris, ember, listed


def disk_of(size: int) -> Callable[[], None]:
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))


def _last_error(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    return stderr.strip().splitlines()[-1]


@pytest.mark.timeout(120)
def test_create_on_a_full_disk_says_so_and_leaves_nothing(home: Path) -> None:
    (home / "Modelfile").write_text(f'FROM {MODEL}\nSYSTEM """{"a long system prompt " * 150_000}"""\n')
    out = ember(home, "create", "sec/full", "-f", "Modelfile", preexec_fn=disk_of(1_000_000))
    assert out.returncode == 1
    error = _last_error(out.stderr)
    assert error.startswith("Error: could not write to the model store") and "free some disk space" in error
    assert debris(home) == [] and listed(home) == [MODEL]
    again = ember(home, "create", "sec/full", "-f", "Modelfile")
    assert again.returncode == 0, again.stderr
    assert sorted(listed(home)) == ["sec/full:latest", MODEL]


@pytest.mark.timeout(120)
def test_weights_copied_onto_a_full_disk_leave_no_partial_blob(home: Path, smollm2_gguf: Path) -> None:
    shm = Path("/dev/shm")
    if not shm.is_dir() or shm.stat().st_dev == home.stat().st_dev:
        pytest.skip("needs a second file system (/dev/shm) so the weights are copied, not hard-linked")
    folder = Path(shm / f"ember-test-{os.getpid()}")
    folder.mkdir(exist_ok=True)
    try:
        source = folder / "copied.gguf"
        shutil.copyfile(smollm2_gguf, source)
        with open(source, "r+b") as fh:  # a different file from the one in the store: it must be copied
            fh.seek(0, os.SEEK_END)
            fh.write(b"\0" * 32)
        (home / "Modelfile").write_text(f"FROM {source}\n")
        out = ember(home, "create", "sec/copied", "-f", "Modelfile", preexec_fn=disk_of(30_000_000))
        assert out.returncode == 1
        assert "could not copy" in _last_error(out.stderr) and "into the model store" in out.stderr
        assert debris(home) == [] and listed(home) == [MODEL]
        blobs = sorted(p.name for p in (home / "models" / "blobs").iterdir())
        again = ember(home, "create", "sec/copied", "-f", "Modelfile")
        assert again.returncode == 0, again.stderr
        assert len(list((home / "models" / "blobs").iterdir())) == len(blobs) + 1  # the weights (same config)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


HISTORY = """
import resource, sys
from pathlib import Path
from ember.backend.errors import EmberError
from ember.backend.history import History
history = History(Path(sys.argv[1]))
conversation = history.new_conversation(model="m")
history.add_message(conversation.id, "user", "kept")
resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))
try:
    for n in range(100):
        history.add_message(conversation.id, "user", "x" * 50_000)
except EmberError as exc:
    print(exc)
"""


def test_a_history_write_on_a_full_disk_is_one_error_and_keeps_what_was_saved(tmp_path: Path) -> None:
    db = tmp_path / "history.db"
    out = subprocess.run([sys.executable, "-c", HISTORY, str(db)], capture_output=True, text=True, cwd=ROOT,
                         timeout=60)
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    assert out.stdout.startswith("could not save to the conversation history") and "free some" in out.stdout
    from ember.backend.history import History

    history = History(db)
    assert history.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    contents = [m.content for m in history.messages(history.conversations()[0].id)]
    assert contents[0] == "kept" and all(c == "x" * 50_000 for c in contents[1:])
    history.close()
