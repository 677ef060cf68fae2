"""Terminal escapes in a Modelfile's LICENSE or SYSTEM, or in an answer, are shown, never obeyed."""

from __future__ import annotations

from pathlib import Path

import pytest
from ember.tui.safetext import printable

from tests.faults.conftest import MODEL, ember, home  # noqa: F401 (home: a fixture, a store of its own)

HOSTILE = "Free\x1b]0;pwned\x07\x1b[2J\x9b31m to use\u202egnp.exe"


def test_printable_shows_control_characters_and_keeps_line_ends_and_tabs() -> None:
    assert printable(HOSTILE) == "Free\\x1b]0;pwned\\x07\\x1b[2J\\x9b31m to use\\u202egnp.exe"
    assert printable("a\tb\r\nc\rd\n") == "a\tb\nc\\x0dd\n"


@pytest.mark.timeout(120)
def test_show_prints_a_hostile_license_and_system_without_escapes(home: Path) -> None:  # noqa: F811
    (home / "Modelfile").write_text(f'FROM {MODEL}\nSYSTEM """{HOSTILE}"""\nLICENSE """{HOSTILE}"""\n')
    assert ember(home, "create", "sec/escapes", "-f", str(home / "Modelfile")).returncode == 0
    for flags in (["--license"], ["--system"], ["--modelfile"], []):
        shown = ember(home, "show", "sec/escapes", *flags)
        assert shown.returncode == 0, shown.stderr
        assert "pwned" in shown.stdout or flags == [], flags
        assert not any(ch in shown.stdout for ch in "\x1b\x07\x9b\u202e"), (flags, shown.stdout)


@pytest.mark.timeout(60)
async def test_the_apps_markdown_shows_escapes_as_text() -> None:
    from ember.tui.app.widgets.chat_markdown import ChatMarkdown
    from textual.app import App, ComposeResult

    class One(App[None]):
        def compose(self) -> ComposeResult:
            yield ChatMarkdown(HOSTILE)

    app = One()
    async with app.run_test() as pilot:
        markdown = app.query_one(ChatMarkdown)
        await markdown.append("\x1b[5m more")
        await pilot.pause()
        assert "\x1b" not in markdown.source and "\\x1b[2J" in markdown.source and "\\x1b[5m" in markdown.source
        await markdown.update("\x1b]0;again\x07")
        assert markdown.source == "\\x1b]0;again\\x07"
