"""A chat as the REPL holds it (ChatSession + History on a LocalBackend), for killing mid-answer.

    python -m tests.faults.chatter MODEL HISTORY_DB "first message" "second message" …

prints `SENT n` once message n is saved and its answer has begun, and `DONE n` when it ends.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path


async def chat(model: str, history_path: Path, messages: list[str]) -> None:
    from ember.backend.history import History
    from ember.backend.local.local_backend import LocalBackend
    from ember.tui.chat.session import ChatSession, ChatState

    session = ChatSession(LocalBackend(), ChatState(model, options={"temperature": 0.7, "num_predict": 4}),
                          History(history_path))
    for n, text in enumerate(messages, 1):
        if n == len(messages):
            session.state.options["num_predict"] = 2000  # the last answer is long: it is killed midway
        started = False
        async for chunk in session.send(text):
            if not started and chunk.text:
                started = True
                print(f"SENT {n}", flush=True)
        print(f"DONE {n}", flush=True)


if __name__ == "__main__":
    asyncio.run(chat(sys.argv[1], Path(sys.argv[2]), sys.argv[3:]))
