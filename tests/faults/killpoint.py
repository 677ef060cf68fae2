"""Run the ember command and SIGKILL it at an exact point of a write, as a crash or `kill -9` would.

    python -m tests.faults.killpoint blob 1 -- pull ./model.gguf

kills the process at the first rename of a finished temp file into `blobs/` (`manifest`: into
`manifests/`), so the temp file is complete and the rename never happens: the worst moment.
"""

from __future__ import annotations

import os
import signal
import sys


def arm(at: str, nth: int) -> None:
    folder = {"blob": "blobs", "manifest": "manifests"}[at]
    real = os.replace
    seen = 0

    def replace(src, dst, *args, **kwargs):  # type: ignore[no-untyped-def]
        nonlocal seen
        if f"{os.sep}{folder}{os.sep}" in os.fspath(dst):
            seen += 1
            if seen == nth:
                sys.stdout.flush()
                sys.stderr.flush()
                os.kill(os.getpid(), signal.SIGKILL)
        return real(src, dst, *args, **kwargs)

    os.replace = replace


def main() -> int:
    at, nth, separator, *argv = sys.argv[1:]
    assert separator == "--"
    arm(at, int(nth))
    from ember.tui.cli.main import main as ember

    return ember(argv)


if __name__ == "__main__":
    raise SystemExit(main())
