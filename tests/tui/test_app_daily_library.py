"""The model library as a daily driver: deleting, the CTX column, creating, a missing model (Pilot)."""

from __future__ import annotations

import pytest
from ember.tui.app.screens.librarycolumns import COLUMNS, DROPPED_FIRST

from tests.tui.conftest import screen_text, wait_for

pytestmark = pytest.mark.timeout(120)


async def test_the_delete_question_is_shown_whole(make_app):
    from ember.tui.app.screens.confirm import ConfirmScreen

    app = make_app()
    question = "Delete mytest-copy:latest? Its files go unless another model shares them."
    async with app.run_test(size=(80, 24)) as pilot:
        app.push_screen(ConfirmScreen(question))
        await pilot.pause()
        shown = " ".join(" ".join(line.strip(" █┃▎▊│") for line in screen_text(app).splitlines()).split())
        assert question in shown



async def test_the_library_ctx_column_shows_the_whole_number(make_app):
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("ctrl+l")
        library = app.screen
        await wait_for(pilot, lambda: "smollm2:135m" in library.infos)

        def ctx_shown() -> list[str]:
            return next(line for line in screen_text(app).splitlines() if "smollm2:135m" in line).split()

        await wait_for(pilot, lambda: "8192" in ctx_shown(), timeout=5)



async def test_a_missing_model_opens_the_library_saying_why(make_app):
    app = make_app(missing_model='model "nosuch" not found')
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.screen.id == "library"
        assert any('"nosuch" not found' in n.message and "choose a model" in n.message for n in app._notifications)



def test_a_new_models_name_comes_from_its_modelfile_or_its_folder(tmp_path):
    from ember.tui.app.pathsuggest import suggested_model_name

    (tmp_path / "My Coder").mkdir()
    assert suggested_model_name(tmp_path / "My Coder" / "Modelfile") == "my-coder"
    assert suggested_model_name(tmp_path / "pirate.modelfile") == "pirate"



async def test_create_completes_the_modelfile_path_with_tab_and_names_it_after_the_folder(make_app, tmp_path):
    from textual.widgets import Input

    project = tmp_path / "shellhelper"
    project.mkdir()
    (project / "Modelfile").write_text("FROM smollm2:135m\n")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+l", "n")
        field = app.screen.query_one(Input)
        field.value = f"{project}/Mod"
        field.cursor_position = len(field.value)
        await wait_for(pilot, lambda: field._suggestion == f"{project}/Modelfile", timeout=5)
        await pilot.press("tab")
        assert field.value == f"{project}/Modelfile"
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen.query_one(Input).value == "shellhelper"
        await pilot.press("escape")



async def test_another_model_with_a_persona_says_the_persona_still_applies(make_app, backend):
    from tests.tui.test_app_commands import command

    await backend.copy("smollm2:135m", "mine/other-for-persona")
    app = make_app()
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("alt+1")
            title = app.session.persona_title
            await command(pilot, "/load mine/other-for-persona")
            await wait_for(pilot, lambda: app.session.model == "mine/other-for-persona")
            assert any(n.message.startswith("Chatting with mine/other-for-persona") and
                       f"{title}'s system prompt and parameters still apply" in n.message
                       for n in app._notifications)
    finally:
        await backend.delete("mine/other-for-persona")


def test_a_narrow_library_drops_the_least_needed_columns_first():
    from ember.tui.app.screens.librarycolumns import COLUMNS, columns_for

    assert columns_for(120, 12) == COLUMNS
    assert columns_for(60, 12) == ("NAME", "SIZE", "QUANT", "PARAMS", "CTX")
    assert columns_for(40, 12)[:2] == ("NAME", "SIZE") and "CTX" in columns_for(40, 12)
    assert "MODIFIED" not in columns_for(80, 40)  # a long name needs the room


async def test_at_60x20_the_library_shows_whole_columns_and_widens_again(make_app):
    app = make_app()
    async with app.run_test(size=(60, 20)) as pilot:
        await pilot.press("ctrl+l")
        library = app.screen
        await wait_for(pilot, lambda: "smollm2:135m" in library.infos)
        await pilot.pause()
        lines = screen_text(app).splitlines()
        at = next(i for i, line in enumerate(lines) if line.split()[:1] == ["NAME"])
        header = lines[at].split()
        # how many go depends on the longest model name in the store; which go first does not
        assert header == list(library.columns) and {"NAME", "SIZE", "CTX"} <= set(header)
        dropped = [c for c in COLUMNS if c not in header]
        assert dropped and sorted(dropped, key=DROPPED_FIRST.index) == list(DROPPED_FIRST[: len(dropped)])
        rows = [line.split() for line in lines[at + 1:] if line.split() and line.split()[0] in library.infos]
        contexts = [r[-1] for r in rows]
        assert "8192" in contexts and "819" not in contexts  # CTX shown whole, never cut to its first digits
        await pilot.resize_terminal(120, 30)
        await wait_for(pilot, lambda: "MODIFIED" in screen_text(app), timeout=5)
        assert library.columns[-1] == "MODIFIED"
