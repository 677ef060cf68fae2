"""The app as a daily driver: what a keyboard user at 80×24 met, each fixed and held here (Pilot)."""

from __future__ import annotations

import pytest

from tests.tui.conftest import screen_text, send, wait_for

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


async def test_load_tab_offers_a_model_saved_in_this_session(make_app, backend):
    from tests.tui.test_app_commands import command, type_text

    app = make_app()
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            chat = app.chat_screen()
            note = await command(pilot, "/save mytest")
            await wait_for(pilot, lambda: "Created new model" in note.output)
            await wait_for(pilot, lambda: "mytest:latest" in chat.model_names)
            await type_text(pilot, "/load my")
            await pilot.press("tab")
            assert chat.prompt.text == "/load mytest:latest"
    finally:
        await backend.delete("mytest")


async def test_a_message_keeps_its_own_line_breaks_on_screen(make_app):
    from ember.tui.app.widgets.message_view import MessageView

    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        chat = app.chat_screen()
        chat.prompt.text = '"""\nTranslate to French:\ngood morning\n"""'
        await pilot.press("enter")
        await wait_for(pilot, lambda: not chat.answering and len(app.session.turns) == 2)
        assert app.session.turns[0].content == "Translate to French:\ngood morning"
        await pilot.pause()
        lines = [line.strip(" ▌") for line in screen_text(app).splitlines()]
        assert "Translate to French:" in lines and "good morning" in lines
        assert isinstance(chat.views()[0], MessageView)


async def test_continuing_a_conversation_keeps_each_answers_model_and_persona(make_app, history):
    app = make_app()
    persona = app.personas[0]
    conversation = history.new_conversation(model="smollm2:135m", persona=persona.slug)
    history.add_message(conversation.id, "user", "ls?", persona=persona.slug)
    history.add_message(conversation.id, "assistant", "ls lists files.", model="smollm2:135m", persona=persona.slug)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("alt+2")
        app.session.model = "pirate:latest"
        await app.open_conversation(conversation.id)
        await pilot.pause()
        chat = app.chat_screen()
        assert [v.who for v in chat.views()] == ["You", f"smollm2:135m · {persona.title}"]


async def test_the_ctx_gauge_follows_the_conversation(make_app, history):
    from ember.tui.app.widgets.status_line import StatusLine

    other = history.new_conversation(model="smollm2:135m")
    history.add_message(other.id, "user", "Tell me about the sea. " * 40)
    history.add_message(other.id, "assistant", "The sea is wide and deep. " * 40)
    app = make_app()
    app.session.overrides["num_predict"] = 40
    async with app.run_test(size=(80, 24)) as pilot:
        chat = app.chat_screen()
        status = chat.query_one(StatusLine).status
        chat.prompt.text = "Write a long story about the sea."
        await pilot.press("enter")
        await wait_for(pilot, lambda: status.state == "answering")
        assert status.context_used > 0 and status.context_estimated  # the first answer shows it growing
        await wait_for(pilot, lambda: not chat.answering)
        counted = status.context_used
        assert counted > 0 and not status.context_estimated
        await send_command(pilot, "/clear")
        assert status.context_used == 0
        await app.open_conversation(other.id)
        assert status.context_used > 200 and status.context_estimated and "ctx ~" in status.render()


async def send_command(pilot, line: str) -> None:  # type: ignore[no-untyped-def]
    from tests.tui.test_app_commands import command

    await command(pilot, line)


async def test_each_answer_has_its_figures_and_set_verbose_adds_the_timings(make_app):
    from textual.widgets import Static

    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        chat = app.chat_screen()
        await send(pilot, "Hi.")
        figures = chat.views()[-1].query(".figures")
        timings = app.session.last_timings
        assert len(figures) == 1 and not chat.views()[-1].query(".timings")
        text = str(figures.first(Static).render())
        assert f"{timings.prompt_eval_count} tokens in" in text and f"{timings.eval_count} out" in text
        assert "tok/s" in text
        await send_command(pilot, "/set verbose")
        await send(pilot, "Bye.")
        block = str(chat.views()[-1].query_one(".timings", Static).render())
        assert "prompt eval count:" in block and "eval rate:" in block


def test_the_readme_key_table_is_the_apps():
    from pathlib import Path

    from ember.tui.app.keyhelp import key_table

    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    app_section = readme[readme.index("## The app"):]
    assert key_table() in app_section


async def test_f1_lists_embers_keys_first_and_a_panels_own_before_them(make_app):
    from ember.tui.app.screens.keys import KeysScreen

    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f1")
        assert isinstance(app.screen, KeysScreen)
        document = app.screen.document()
        assert document.index("Ctrl+R") < document.index("Editing the prompt")
        assert "regenerate the last answer" in document
        await pilot.press("escape")
        assert app.screen.id == "chat"
        await pilot.press("ctrl+l", "f1")
        document = app.screen.document()
        assert document.index("This panel (library)") < document.index("regenerate the last answer")
        assert "Modelfile" in document.split("## Keys")[0]


async def test_shortcuts_are_the_apps_keys_and_ctrl_c_stops_the_answer(make_app):
    from tests.tui.test_app_commands import command

    app = make_app()
    app.session.overrides["num_predict"] = 400
    async with app.run_test(size=(80, 24)) as pilot:
        note = await command(pilot, "/? shortcuts")
        assert "Ctrl+L" in note.output and "Ctrl+Y / Alt+Y" in note.output
        assert "Move to the beginning of the line" not in note.output and "Ctrl + d" not in note.output
        chat = app.chat_screen()
        chat.prompt.text = "Write a very long story about the sea."
        await pilot.press("enter")
        await wait_for(pilot, lambda: chat.answering and chat.query_one("StatusLine").status.state == "answering")
        await pilot.press("ctrl+c")
        await wait_for(pilot, lambda: not chat.answering, timeout=10)
        assert app.session.turns[-1].role == "assistant" and app.session.turns[-1].content
        assert not any("quit" in (n.title or "") for n in app._notifications)
        await pilot.press("ctrl+c")  # nothing to stop: it says how to quit
        assert any("Do you want to quit?" == n.title for n in app._notifications)


async def test_page_keys_scroll_the_conversation_from_the_prompt_and_typing_returns_to_it(make_app, history):
    conversation = history.new_conversation(model="smollm2:135m")
    for n in range(15):
        history.add_message(conversation.id, "user", f"question {n}")
        history.add_message(conversation.id, "assistant", f"answer {n}\n\nwith a second paragraph")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await app.open_conversation(conversation.id)
        await pilot.pause()
        chat = app.chat_screen()
        bottom = chat.conversation.scroll_y
        assert bottom > 0 and chat.focused is chat.prompt
        await pilot.press("pageup")
        await pilot.pause()
        assert chat.conversation.scroll_y < bottom
        await pilot.press("pagedown", "pagedown", "pagedown")
        await pilot.pause()
        assert chat.conversation.scroll_y == chat.conversation.max_scroll_y
        chat.conversation.focus()
        await pilot.press("h", "i")
        assert chat.focused is chat.prompt and chat.prompt.text == "hi"


async def test_up_and_down_in_an_empty_prompt_recall_earlier_messages(make_app, history):
    conversation = history.new_conversation(model="smollm2:135m")
    for text in ("first question", "second question"):
        history.add_message(conversation.id, "user", text)
        history.add_message(conversation.id, "assistant", "an answer")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await app.open_conversation(conversation.id)
        chat = app.chat_screen()
        await pilot.press("up")
        assert chat.prompt.text == "second question"
        await pilot.press("up")
        assert chat.prompt.text == "first question"
        await pilot.press("up")
        assert chat.prompt.text == "first question"
        await pilot.press("down")
        assert chat.prompt.text == "second question"
        await pilot.press("down")
        assert chat.prompt.text == ""
        chat.prompt.text = "typed"
        await pilot.press("up")
        assert chat.prompt.text == "typed"  # a prompt with text of its own keeps it


async def test_toasts_leave_the_prompt_and_the_status_line_in_sight(make_app):
    from textual.widgets._toast import Toast

    app = make_app()
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        app.notify("A note long enough to take two or three lines of the toast at eighty columns wide.")
        chat = app.chat_screen()
        await wait_for(pilot, lambda: bool(chat.query(Toast)), timeout=5)
        toast = chat.query(Toast).last()
        assert toast.region.bottom <= chat.prompt.region.y


async def test_an_empty_chat_says_how_to_begin_and_offers_the_last_conversation(make_app, history):
    from ember.tui.app.screens.chat.welcome import Welcome

    conversation = history.new_conversation(model="smollm2:135m")
    history.add_message(conversation.id, "user", "How do tides work?")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        chat = app.chat_screen()
        text = str(chat.query_one(Welcome).render())
        for words in ("press Enter", "F1 keys", "Ctrl+L models", "Alt+1…", "Ctrl+Q quit",
                      'Continue your last conversation, "How do tides work?": Ctrl+F, Enter'):
            assert words in text
        await pilot.press("ctrl+f")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen.id == "chat" and len(app.session.turns) == 1)
        assert not chat.query(Welcome)


async def test_an_unknown_theme_in_the_config_is_reported(make_app, config):
    import dataclasses

    app = make_app(config=dataclasses.replace(config, theme="nosuch"))
    async with app.run_test(size=(80, 24)):
        assert app.theme == "ember-dark"
        assert any('theme "nosuch" is not a theme' in n.message for n in app._notifications)


async def test_a_missing_model_opens_the_library_saying_why(make_app):
    app = make_app(missing_model='model "nosuch" not found')
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.screen.id == "library"
        assert any('"nosuch" not found' in n.message and "choose a model" in n.message for n in app._notifications)


async def test_a_long_code_line_wraps_instead_of_being_cut(make_app, history):
    tail = "END_OF_THE_LONG_LINE"
    long_line = "print(" + " + ".join(f"value_{n}" for n in range(14)) + f")  # {tail}"
    conversation = history.new_conversation(model="smollm2:135m")
    history.add_message(conversation.id, "user", "code")
    history.add_message(conversation.id, "assistant", f"```python\n{long_line}\n```\n")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await app.open_conversation(conversation.id)
        await pilot.pause(0.3)
        shown = screen_text(app)
        assert len(long_line) > 80 and tail in shown and "print(value_0" in shown
        await pilot.press("ctrl+y")
        assert app.clipboard == long_line + "\n"


async def test_the_palette_offers_embers_actions_not_the_prompts_cursor_keys(make_app):
    from ember.tui.app.palette import BindingsProvider, ChatCommandsProvider

    app = make_app()
    async with app.run_test(size=(80, 24)):
        chat = app.chat_screen()
        assert chat.focused is chat.prompt
        labels = [label for label, _key, _run in BindingsProvider(chat)._commands()]
        assert "Regen" in labels and "Models" in labels
        assert not [label for label in labels if label.lower().startswith("cursor")]
        provider = ChatCommandsProvider(chat)
        hits = [hit.text async for hit in provider.search("theme")]
        assert "/retry" not in hits
        assert "/retry" in [hit.text async for hit in provider.search("again")]


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


def test_a_narrow_status_line_drops_the_least_needed_parts_first():
    from ember.tui.app.widgets.status_line import Status

    status = Status(model="smollm2:135m", persona="", state="answering", tokens_per_second=3.1,
                    context_used=48, num_ctx=4096, first_token_ms=120)
    assert status.render(200) == ("smollm2:135m · no persona · answering · 3.1 tok/s · first token 120 ms · "
                                  "ctx 48/4096")
    assert status.render(50) == "smollm2:135m · answering · 3.1 tok/s · ctx 48/4096"
    assert status.render(30) == "smollm2:135m · ctx 48/4096"
    assert len(status.render(8)) == 8


async def test_at_60x20_the_status_line_keeps_the_model_and_the_context(make_app):
    app = make_app()
    async with app.run_test(size=(60, 20)) as pilot:
        chat = app.chat_screen()
        chat.refresh_status(state="answering", tokens_per_second=3.1, first_token_ms=120.0)
        await pilot.pause()
        line = screen_text(app).splitlines()[chat.query_one("StatusLine").region.y]
        assert "smollm2:135m" in line and "ctx 0/4096" in line and "first token" not in line


async def test_saving_parameters_asks_about_the_chats_own_and_x_says_which_value_applies(make_app, backend,
                                                                                         tmp_path):
    from tests.tui.test_app_commands import command

    user_dir = tmp_path / "user-personas"
    app = make_app(persona_dir=user_dir)
    app.session.overrides.clear()
    persona = app.personas[0]
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("alt+1")
            await command(pilot, "/set parameter num_predict 20")
            await pilot.press("ctrl+o")
            panel = app.screen
            panel.table.move_cursor(row=panel.names.index("top_k"))
            await pilot.press("enter")
            panel.query_one("Input").value = "11"
            await pilot.press("enter", "ctrl+s")
            assert type(app.screen).__name__ == "ConfirmScreen" and "num_predict 20" in app.screen.question
            await pilot.press("n")
            await wait_for(pilot, lambda: any(f"the model {persona.model}" in n.message for n in app._notifications))
            saved = (user_dir / f"{persona.slug}.Modelfile").read_text()
            assert "PARAMETER top_k 11" in saved and "num_predict" not in saved
            assert app.session.overrides == {"num_predict": 20}  # still this chat's own
            panel.table.move_cursor(row=panel.names.index("num_predict"))
            await pilot.press("x")
            default = str(app.session.value("num_predict"))
            assert any(f"num_predict = {default}, the default value" in n.message for n in app._notifications)
    finally:
        await backend.delete(persona.model)


async def test_a_search_hit_opens_its_conversation(make_app, history):
    from tests.tui.test_app_commands import command

    conversation = history.new_conversation(model="smollm2:135m")
    history.add_message(conversation.id, "user", "How do volcanoes erupt?")
    history.add_message(conversation.id, "assistant", "Magma rises.")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        note = await command(pilot, "/search volcano")
        assert f"#{conversation.id}" in note.output
        await wait_for(pilot, lambda: type(app.screen).__name__ == "PickScreen")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.session.conversation_id == conversation.id)
        assert [t.content for t in app.session.turns] == ["How do volcanoes erupt?", "Magma rises."]
        assert [v.role for v in app.chat_screen().views()] == ["user", "assistant"]


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


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_the_app_serves_the_api_from_its_own_process_with_its_models(make_app):
    import httpx
    from ember.tui.app.palette import AppCommandsProvider
    from ember.tui.app.widgets.status_line import StatusLine

    port = free_port()
    app = make_app(serve=f"127.0.0.1:{port}")
    async with app.run_test(size=(100, 24)) as pilot:
        await wait_for(pilot, lambda: bool(app.serving), timeout=20)
        chat = app.chat_screen()
        assert f"API 127.0.0.1:{port}" in chat.query_one(StatusLine).status.render()
        async with httpx.AsyncClient(base_url=app.serving, timeout=60) as client:
            tags = (await client.get("/api/tags")).json()
            assert "smollm2:135m" in [m["name"] for m in tags["models"]]
            reply = await client.post("/api/chat", json={
                "model": "smollm2:135m", "stream": False, "options": {"num_predict": 4, "temperature": 0},
                "messages": [{"role": "user", "content": "Hi"}]})
            assert reply.status_code == 200 and reply.json()["done"] is True
            assert (await client.get("/api/tags", headers={"Host": "evil.example"})).status_code == 403
        [(label, _help, toggle)] = AppCommandsProvider(chat)._commands()
        assert label == "Stop serving the API"
        toggle()
        await wait_for(pilot, lambda: not app.serving, timeout=10)
        assert "API" not in chat.query_one(StatusLine).status.render()
        async with httpx.AsyncClient(timeout=2) as client:
            with pytest.raises(httpx.ConnectError):
                await client.get(f"http://127.0.0.1:{port}/api/tags")
