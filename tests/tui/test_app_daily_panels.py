"""The parameters and conversations panels, and the app serving the API, as a daily user meets them (Pilot)."""

from __future__ import annotations

import pytest

from tests.tui.conftest import wait_for

pytestmark = pytest.mark.timeout(120)


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
        label, _help, toggle = AppCommandsProvider(chat)._commands()[0]
        assert label == "Stop serving the API"
        toggle()
        await wait_for(pilot, lambda: not app.serving, timeout=10)
        assert "API" not in chat.query_one(StatusLine).status.render()
        async with httpx.AsyncClient(timeout=2) as client:
            with pytest.raises(httpx.ConnectError):
                await client.get(f"http://127.0.0.1:{port}/api/tags")
