"""Images in the front ends: paths picked out of a prompt as Ollama's CLI does, `/image`, the app, the history."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from ember.backend.history import History
from ember.tui.chat.imagepaths import extract_images
from ember.tui.chat.session import ChatSession, ChatState
from ember.tui.chat.slash_run import run_command

from tests.tui.conftest import screen_text, send, wait_for
from tests.visionfixture import png_bytes


@pytest.fixture
def pictures(tmp_path: Path) -> Path:
    (tmp_path / "cat.png").write_bytes(png_bytes(seed=21))
    (tmp_path / "my cat.JPG").write_bytes(png_bytes(seed=22))  # a PNG by another name: the server reads the bytes
    return tmp_path


@pytest.mark.parametrize(("prompt", "text", "found"), [
    ("describe ./cat.png", "describe", ["cat.png"]),
    ("what is ./cat.png, and ./missing.png?", "what is , and ./missing.png?", ["cat.png"]),
    ("look at ./my\\ cat.JPG please", "look at please", ["my cat.JPG"]),
    ("look at './my cat.JPG' and \"./cat.png\"", "look at and", ["my cat.JPG", "cat.png"]),
    ("a file named cat.png without a path", "a file named cat.png without a path", []),
    ("not an image ./cat.pngx", "not an image ./cat.pngx", []),
])
def test_image_paths_are_picked_out_of_a_prompt_as_ollama_does(pictures: Path, monkeypatch: pytest.MonkeyPatch,
                                                                prompt: str, text: str, found: list[str]) -> None:
    monkeypatch.chdir(pictures)
    rest, images = extract_images(prompt)
    assert rest == text
    assert [image.path.name for image in images] == found


def ember(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ember.tui", *args], capture_output=True, text=True, timeout=110,
                          cwd=cwd)


def short(models_dir: Path, base: str) -> str:
    """`base` answering in three tokens, so a run over random projector weights ends at once."""
    from ember.backend.models.create import create_model
    from ember.backend.store.modelstore import ModelStore
    from ember.backend.store.names import parse_name

    name = f"cli/short-{base.split(':')[0]}"
    for _ in create_model(ModelStore(models_dir), parse_name(name),
                          f"FROM {base}\nPARAMETER num_predict 3\nPARAMETER temperature 0\n", None):
        pass
    return name


def test_ember_run_sends_the_images_a_prompt_names_to_a_model_that_sees(models_dir: Path, vision_model: str,
                                                                          pictures: Path) -> None:
    from ember.backend.store.modelstore import ModelStore
    from ember.backend.store.names import parse_name

    seer, plain_model = short(models_dir, vision_model), short(models_dir, "smollm2:135m")
    try:
        out = ember("run", seer, "--verbose", "describe ./cat.png", cwd=pictures)
        assert out.returncode == 0, out.stderr
        assert "Added image 'cat.png'" in out.stderr and "Traceback" not in out.stderr
        counted = re.search(r"prompt eval count:\s+(\d+) token", out.stderr)
        assert counted and int(counted.group(1)) > 16  # the image's 16 positions were read with the text
        shown = ember("show", vision_model, cwd=pictures)
        assert "Projector" in shown.stdout and "vision" in shown.stdout and "576" in shown.stdout
        plain = ember("run", plain_model, "describe ./cat.png", cwd=pictures)
        assert plain.returncode == 0 and "Added image" not in plain.stderr  # a model that cannot see: the path is text
    finally:
        for name in (seer, plain_model):
            ModelStore(models_dir).delete(parse_name(name))


async def test_image_command_attaches_and_history_keeps_which_images(backend, vision_model: str, pictures: Path,
                                                                     tmp_path: Path) -> None:
    history = History(tmp_path / "history.db")
    blind = ChatSession(backend, ChatState(model="smollm2:135m"), history=history)
    refused = await run_command(blind, f"/image {pictures / 'cat.png'}")
    assert refused.error and "cannot see images" in refused.text and not blind.images.pending
    kept, none = await blind.take_images(f"what is {pictures / 'cat.png'}?")
    assert kept == f"what is {pictures / 'cat.png'}?" and none == []  # as Ollama: the path stays text
    assert "cannot see images: cat.png is sent as text" in blind.images.warning

    session = ChatSession(backend, ChatState(model=vision_model), history=history)
    session.overrides.update({"num_predict": 3, "temperature": 0.0})
    added = await run_command(session, f"/image {pictures / 'cat.png'}")
    assert not added.error and added.text == f"Added image '{pictures / 'cat.png'}'"
    missing = await run_command(session, "/image ./nowhere.png")
    assert missing.error and "no image at" in missing.text
    text, images = await session.take_images(f"What is this? And {pictures}/my\\ cat.JPG")
    assert text == "What is this? And" and len(images) == 2
    chunks = [c async for c in session.send(text, images)]
    assert chunks[-1].done and chunks[-1].timings.prompt_eval_count > 16
    stored = history.messages(session.conversation_id)[0]
    assert [Path(i.path).name for i in stored.images] == ["cat.png", "my cat.JPG"]
    assert all(i.digest.startswith("sha256:") for i in stored.images)

    reopened = ChatSession(backend, ChatState(model=vision_model), history=history)
    reopened.open_conversation(session.conversation_id)
    assert len(reopened.turns[0].images) == 2  # the files are still there: read again
    (pictures / "cat.png").write_bytes(png_bytes(seed=99))  # changed since: left out, the rest goes on
    again = ChatSession(backend, ChatState(model=vision_model), history=history)
    again.open_conversation(session.conversation_id)
    assert len(again.turns[0].images) == 1
    history.close()


def test_an_older_history_database_gains_the_images_column(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.db"
    old = History(path)
    conversation = old.new_conversation(model="m")
    old.add_message(conversation.id, "user", "before images")
    old.db.execute("ALTER TABLE messages DROP COLUMN images")
    old.db.execute("PRAGMA user_version=3")
    old.close()
    reopened = History(path)
    assert reopened.version >= 4
    assert reopened.messages(conversation.id)[0].content == "before images"
    assert reopened.messages(conversation.id)[0].images == ()
    reopened.close()
    assert sqlite3.connect(path).execute("SELECT images FROM messages").fetchone() == ("",)


async def test_the_app_attaches_an_image_and_shows_it_as_a_line(backend, config, vision_model: str, pictures: Path,
                                                                tmp_path: Path) -> None:
    from ember.backend.models.personas import load_personas
    from ember.tui.app.app import EmberApp
    from ember.tui.app.themes import SHIPPED_DIR

    history = History(tmp_path / "app-history.db")
    app = EmberApp(backend, vision_model, history=history, personas=load_personas(tmp_path / "none"),
                   theme_dirs=(SHIPPED_DIR,), keymap={}, config=config, load_model=False)
    app.session.overrides.update({"num_predict": 3, "temperature": 0.0, "seed": 1})
    async with app.run_test(size=(100, 30)) as pilot:
        chat = app.chat_screen()
        chat.prompt.text = f"/image {pictures / 'cat.png'}"
        await pilot.press("enter")
        await wait_for(pilot, lambda: bool(app.session.images.pending))
        await send(pilot, f"What is this? {pictures / 'my cat.JPG'}".replace(" cat.JPG", "\\ cat.JPG"))
        user = [t for t in app.session.turns if t.role == "user"][-1]
        assert len(user.images) == 2 and user.content == "What is this?"
        shown = screen_text(app)
        assert f"[image: {pictures / 'cat.png'}]" in shown and "[image:" in shown.split("What is this?")[0]
    history.close()
