"""A long conversation in the app: its newest messages on screen, earlier ones as the user scrolls up (Pilot)."""

from __future__ import annotations

import pytest

from tests.tui.conftest import screen_text, send, wait_for

pytestmark = pytest.mark.timeout(120)


def seed(history, pairs: int) -> str:  # type: ignore[no-untyped-def]
    conversation = history.new_conversation(model="smollm2:135m")
    for n in range(pairs):
        history.add_message(conversation.id, "user", f"question {n}")
        history.add_message(conversation.id, "assistant", f"answer {n}\n\n```python\nprint({n})\n```",
                            model="smollm2:135m")
    return conversation.id


async def page_up_until_more_show(pilot, chat) -> None:  # type: ignore[no-untyped-def]
    """PageUp until the top is reached, where the earlier messages appear above (at most 20 pages)."""
    shown = len(chat.views())
    for _ in range(20):
        await pilot.press("pageup")
        await pilot.pause()
        if len(chat.views()) > shown:
            return
    raise AssertionError("no earlier messages appeared at the top")


async def test_a_long_conversation_shows_its_newest_messages_and_earlier_ones_on_the_way_up(make_app, history):
    from ember.tui.app.screens.chat.window import SHOWN, EarlierMessages

    conversation = seed(history, 20)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await app.open_conversation(conversation)
        await pilot.pause()
        chat = app.chat_screen()
        views = chat.views()
        assert len(views) == SHOWN and len(app.session.turns) == 40
        assert views[0].text == f"question {(40 - SHOWN) // 2}" and views[-1].text.startswith("answer 19")
        assert "answer 19" in screen_text(app)
        assert f"{40 - SHOWN} earlier messages" in str(chat.query_one(EarlierMessages).render())
        await page_up_until_more_show(pilot, chat)  # at the top: the messages before appear above it
        await pilot.pause()
        assert len(chat.views()) == 2 * SHOWN and chat.views()[0].text == f"question {(40 - 2 * SHOWN) // 2}"
        assert f"question {(40 - SHOWN) // 2}" in screen_text(app) and chat.conversation.scroll_y > 0
        assert f"{40 - 2 * SHOWN} earlier messages" in str(chat.query_one(EarlierMessages).render())
        while chat.query(EarlierMessages):
            await page_up_until_more_show(pilot, chat)
        assert len(chat.views()) == 40 and not chat.query(EarlierMessages) and chat.views()[0].text == "question 0"
        assert [v.role for v in chat.views()] == [t.role for t in app.session.turns]


async def test_a_long_session_lets_its_oldest_messages_go_as_it_goes_on(make_app, history):
    from ember.tui.app.screens.chat.window import SHOWN, EarlierMessages

    conversation = seed(history, 20)
    app = make_app()
    app.session.overrides["num_predict"] = 3
    async with app.run_test(size=(80, 24)) as pilot:
        await app.open_conversation(conversation)
        await pilot.pause()
        chat = app.chat_screen()
        while chat.query(EarlierMessages):
            await page_up_until_more_show(pilot, chat)
        assert len(chat.views()) == 40
        chat.conversation.scroll_end(animate=False)
        await pilot.pause()
        await send(pilot, "One more question.")
        views = chat.views()
        assert len(app.session.turns) == 42 and len(views) == SHOWN + 2
        assert views[-2].text == "One more question." and views[-1].text == app.session.turns[-1].content
        await chat.action_regenerate()  # the session drops its last answer: the right view goes with it
        await wait_for(pilot, lambda: not chat.answering)
        assert len(chat.views()) == SHOWN + 2 and chat.views()[-2].text == "One more question."
