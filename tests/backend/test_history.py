"""Conversation history: a real SQLite file, as the app uses it."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from ember.backend.errors import EmberError
from ember.backend.history import MIGRATIONS, History


@pytest.fixture
def history(tmp_path: Path) -> History:
    db = History(tmp_path / "history.db")
    yield db
    db.close()


def test_a_new_file_is_migrated_to_the_latest_version_in_wal_mode(history):
    assert history.version == len(MIGRATIONS)
    assert history.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_an_old_file_is_migrated_one_version_at_a_time(tmp_path):
    path = tmp_path / "old.db"
    db = sqlite3.connect(path, isolation_level=None)
    MIGRATIONS[0](db)
    db.execute("PRAGMA user_version=1")
    db.execute("INSERT INTO conversations(title, created, updated) VALUES ('kept', 1, 1)")
    db.close()
    history = History(path)
    assert history.version == len(MIGRATIONS)
    assert [c.title for c in history.conversations()] == ["kept"]
    history.save_draft("half a thought")
    assert history.draft() == "half a thought"
    history.close()


def test_a_file_from_a_newer_ember_is_refused_with_a_clear_message(tmp_path):
    path = tmp_path / "new.db"
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version={len(MIGRATIONS) + 1}")
    db.close()
    with pytest.raises(EmberError, match="newer ember"):
        History(path)


def test_messages_are_kept_in_order_and_the_first_user_message_titles_the_conversation(history):
    chat = history.new_conversation(model="smollm2:135m", persona="architect")
    history.add_message(chat.id, "user", "How do I design   a cache?\nDetails follow.")
    history.add_message(chat.id, "assistant", "Start with the access pattern.")
    history.add_message(chat.id, "user", "And eviction?")
    stored = history.conversation(chat.id)
    assert stored.title == "How do I design a cache? Details follow."
    assert stored.message_count == 3
    assert [m.role for m in history.messages(chat.id)] == ["user", "assistant", "user"]


def test_list_rename_delete(history):
    first = history.new_conversation()
    history.add_message(first.id, "user", "first")
    second = history.new_conversation()
    history.add_message(second.id, "user", "second")
    assert [c.id for c in history.conversations()] == [second.id, first.id]
    history.rename(first.id, "  Renamed  ")
    assert history.conversation(first.id).title == "Renamed"
    history.delete(second.id)
    assert [c.id for c in history.conversations()] == [first.id]
    assert history.db.execute("SELECT count(*) FROM messages WHERE conversation_id = ?",
                              (second.id,)).fetchone()[0] == 0


def test_search_finds_words_prefixes_and_titles_and_tolerates_punctuation(history):
    a = history.new_conversation()
    history.add_message(a.id, "user", "Explain the lighthouse keeper's routine")
    b = history.new_conversation()
    history.add_message(b.id, "user", "Write a haiku about rain")
    history.rename(b.id, "Poetry corner")
    assert [h.conversation.id for h in history.search("lighthouse")] == [a.id]
    assert [h.conversation.id for h in history.search("lightho")] == [a.id]
    assert "[lighthouse]" in history.search("lighthouse")[0].snippet
    assert [h.conversation.id for h in history.search("poetry")] == [b.id]
    assert history.search('keeper\'s "routine') != []
    assert history.search("AND OR NOT (") == []
    assert history.search("   ") == []


def test_edited_and_deleted_messages_leave_the_search_index(history):
    chat = history.new_conversation()
    message = history.add_message(chat.id, "assistant", "")
    history.update_message(message.id, "a streamed answer about volcanoes")
    assert history.search("volcanoes")
    history.delete_message(message.id)
    assert not history.search("volcanoes")


def test_export_markdown(history):
    chat = history.new_conversation(model="smollm2:135m")
    history.add_message(chat.id, "user", "Show me Python")
    history.add_message(chat.id, "assistant", "```python\nprint('hi')\n```")
    text = history.export_markdown(chat.id)
    assert text.startswith("# Show me Python\n")
    assert "model: smollm2:135m" in text
    assert "## User\n\nShow me Python" in text
    assert "## Assistant\n\n```python\nprint('hi')\n```" in text


def test_a_sent_message_survives_the_process_being_killed(tmp_path):
    path = tmp_path / "history.db"
    script = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from ember.backend.history import History\n"
        f"h = History(Path({str(path)!r}))\n"
        "c = h.new_conversation()\n"
        "h.add_message(c.id, 'user', 'typed before the crash')\n"
        "h.save_draft('unsent words')\n"
        "os._exit(9)\n"  # no close, no commit at exit: what a crash leaves behind
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)
    assert result.returncode == 9, result.stderr
    history = History(path)
    [conversation] = history.conversations()
    assert [m.content for m in history.messages(conversation.id)] == ["typed before the crash"]
    assert history.draft() == "unsent words"
    history.close()


def test_an_unreadable_file_is_one_clear_error(tmp_path):
    path = tmp_path / "history.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(EmberError, match="move the file aside"):
        History(path)


def test_an_answers_thinking_is_kept_and_older_messages_have_none(tmp_path):
    path = tmp_path / "v2.db"
    db = sqlite3.connect(path, isolation_level=None)
    MIGRATIONS[0](db)
    MIGRATIONS[1](db)
    db.execute("PRAGMA user_version=2")
    db.execute("INSERT INTO conversations(title, created, updated) VALUES ('old', 1, 1)")
    db.execute("INSERT INTO messages(conversation_id, role, content, created) VALUES (1, 'assistant', 'hi', 1)")
    db.close()
    history = History(path)
    assert [m.thinking for m in history.messages(1)] == [""]
    history.add_message(1, "assistant", "Blue, by scattering.", thinking="Rayleigh scattering.")
    assert history.messages(1)[-1].thinking == "Rayleigh scattering."
    assert "> Rayleigh scattering.\n\nBlue, by scattering." in history.export_markdown(1)
    history.close()
