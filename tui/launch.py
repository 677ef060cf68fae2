"""Interactive chat: the full-screen app on a capable terminal, the plain REPL elsewhere."""

from __future__ import annotations

import argparse

from backend.service import Backend


async def interactive(backend: Backend, args: argparse.Namespace) -> int:
    from tui.repl import Repl

    return await Repl(backend, args.model, verbose=args.verbose).run()
