"""Copying text: OSC 52 through the terminal (works over SSH), and the local clipboard when there is one."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

_TOOLS = (("pbcopy",), ("wl-copy",), ("xclip", "-selection", "clipboard"), ("xsel", "--clipboard", "--input"))


def local_clipboard_command() -> list[str] | None:
    if sys.platform == "darwin" and shutil.which("pbcopy"):
        return ["pbcopy"]
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return None
    for tool in _TOOLS:
        if shutil.which(tool[0]):
            return list(tool)
    return None


def copy_locally(text: str) -> bool:
    """Hand `text` to the desktop's clipboard tool; False when there is none or it failed."""
    command = local_clipboard_command()
    if command is None:
        return False
    try:
        subprocess.run(command, input=text.encode(), timeout=2, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return False
    return True
