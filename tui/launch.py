"""Interactive chat: the full-screen app on a capable terminal, the plain REPL elsewhere."""

from __future__ import annotations

import argparse
import gc
import os
import sys

from ember.backend.service import Backend


def wants_plain(args: argparse.Namespace, environ: dict[str, str] | None = None) -> bool:
    """The plain line chat when asked for, on a dumb terminal, or when stdin/stdout is not a terminal."""
    environ = dict(os.environ) if environ is None else environ
    if getattr(args, "plain", False):
        return True
    if environ.get("TERM", "") in ("", "dumb"):
        return True
    return not (sys.stdout.isatty() and sys.stdin.isatty())


async def interactive(backend: Backend, args: argparse.Namespace, missing: str = "") -> int:
    """Chat with args.model; `missing` says why that model cannot be used (the app then opens its library)."""
    if wants_plain(args):
        from ember.tui.repl import Repl

        return await Repl(backend, args.model, verbose=args.verbose, think=getattr(args, "think", None),
                          hide_thinking=getattr(args, "hidethinking", False)).run()
    from ember.tui.app.app import EmberApp

    app = EmberApp(backend, args.model, missing_model=missing, serve=getattr(args, "serve", None),
                   served_by=getattr(args, "served_by", ""))
    app.session.keep_alive = getattr(args, "keepalive", None)
    app.session.state.think = getattr(args, "think", None)
    try:
        await app.run_async()
    finally:
        app.history.close()
        await app.endpoints.close()
        # Quitting should feel instant: the app's many objects need no final garbage collection
        # (the process is ending), which otherwise adds a few hundred milliseconds to the exit.
        gc.freeze()
    return app.return_code or 0
