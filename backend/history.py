"""Conversations in SQLite: every message is committed when it is sent, so nothing typed is lost.

One file in the data directory (`history.db`), WAL journal, schema versions in `PRAGMA user_version`
(one migration function per version), FTS5 over message text for search.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ember.backend.errors import EmberError


@dataclass(frozen=True)
class Conversation:
    id: int
    title: str
    model: str
    persona: str
    created: float
    updated: float
    message_count: int = 0


@dataclass(frozen=True)
class StoredMessage:
    id: int
    conversation_id: int
    role: str
    content: str
    created: float
    model: str = ""
    persona: str = ""
    thinking: str = ""  # what an assistant answer thought before it answered
    images: tuple[StoredImage, ...] = ()  # the images a user message had


@dataclass(frozen=True)
class StoredImage:
    """An image a message had: where the file was, and its sha256 (the file is not copied)."""

    path: str
    digest: str


def _images_json(images: tuple[StoredImage, ...] | list[StoredImage]) -> str:
    return json.dumps([{"path": i.path, "digest": i.digest} for i in images]) if images else ""


def _images_from(text: str) -> tuple[StoredImage, ...]:
    try:
        return tuple(StoredImage(str(i["path"]), str(i["digest"])) for i in json.loads(text)) if text else ()
    except (ValueError, TypeError, KeyError):
        return ()


@dataclass(frozen=True)
class SearchHit:
    conversation: Conversation
    snippet: str


def _v1(db: sqlite3.Connection) -> None:
    db.executescript("""
        CREATE TABLE conversations (
            id INTEGER PRIMARY KEY,
            title TEXT NOT NULL DEFAULT '',
            model TEXT NOT NULL DEFAULT '',
            persona TEXT NOT NULL DEFAULT '',
            created REAL NOT NULL,
            updated REAL NOT NULL
        );
        CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            role TEXT NOT NULL,
            content TEXT NOT NULL,
            created REAL NOT NULL,
            model TEXT NOT NULL DEFAULT '',
            persona TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX messages_by_conversation ON messages(conversation_id, id);
        CREATE VIRTUAL TABLE messages_fts USING fts5(content, content='messages', content_rowid='id');
        CREATE TRIGGER messages_ai AFTER INSERT ON messages BEGIN
            INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content);
        END;
        CREATE TRIGGER messages_ad AFTER DELETE ON messages BEGIN
            INSERT INTO messages_fts(messages_fts, rowid, content) VALUES ('delete', old.id, old.content);
        END;
        CREATE TRIGGER messages_au AFTER UPDATE OF content ON messages BEGIN
            INSERT INTO messages_fts(messages_fts, rowid, content) VALUES ('delete', old.id, old.content);
            INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content);
        END;
    """)


def _v2(db: sqlite3.Connection) -> None:
    """The text in the prompt box before it is sent."""
    db.execute("CREATE TABLE drafts (slot TEXT PRIMARY KEY, text TEXT NOT NULL, updated REAL NOT NULL)")


def _v3(db: sqlite3.Connection) -> None:
    """The thinking of a thinking model's answers, kept beside their content."""
    db.execute("ALTER TABLE messages ADD COLUMN thinking TEXT NOT NULL DEFAULT ''")


def _v4(db: sqlite3.Connection) -> None:
    """Which images a message had (JSON: path and digest of each)."""
    db.execute("ALTER TABLE messages ADD COLUMN images TEXT NOT NULL DEFAULT ''")


MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (_v1, _v2, _v3, _v4)


def default_path() -> Path:
    from ember.backend.config import data_dir

    return data_dir() / "history.db"


def _fts_query(text: str) -> str:
    """Each word as a quoted FTS5 string (so punctuation is literal), the last one as a prefix."""
    words = [w.replace('"', '""') for w in text.split()]
    if not words:
        return ""
    return " ".join(f'"{w}"' for w in words[:-1]) + (" " if len(words) > 1 else "") + f'"{words[-1]}"*'


class History:
    """A conversation log. Use from one thread (the app's event loop)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(self.path, isolation_level=None)
            self.db.row_factory = sqlite3.Row
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA foreign_keys=ON")
            self.db.execute("PRAGMA busy_timeout=3000")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise EmberError(f"{self.path}: cannot open the conversation history ({exc}) — "
                             "move the file aside to start a new one")

    @property
    def version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        current = self.version
        if current > len(MIGRATIONS):
            raise EmberError(f"{self.path} was written by a newer ember (schema {current}) — upgrade ember")
        for number, migration in enumerate(MIGRATIONS[current:], start=current + 1):
            with self.db:
                self.db.execute("BEGIN IMMEDIATE")
                migration(self.db)
                self.db.execute(f"PRAGMA user_version={number}")

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def _saving(self) -> Iterator[None]:
        """A write that fails (a full disk, a read-only file) is one clear error; SQLite rolls it back."""
        try:
            yield
        except sqlite3.OperationalError as exc:
            raise EmberError(f"could not save to the conversation history {self.path} ({exc}): free some "
                             "disk space — what was saved before is intact") from None

    # conversations ---------------------------------------------------------------------------

    def new_conversation(self, *, model: str = "", persona: str = "", title: str = "") -> Conversation:
        now = time.time()
        with self._saving():
            cursor = self.db.execute(
                "INSERT INTO conversations(title, model, persona, created, updated) VALUES (?, ?, ?, ?, ?)",
                (title, model, persona, now, now))
        return self.conversation(int(cursor.lastrowid or 0))

    def conversation(self, conversation_id: int) -> Conversation:
        row = self.db.execute(
            "SELECT c.*, (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id) AS n "
            "FROM conversations c WHERE c.id = ?", (conversation_id,)).fetchone()
        if row is None:
            raise EmberError(f"no conversation {conversation_id} in {self.path}")
        return _conversation(row)

    def conversations(self, limit: int = 200) -> list[Conversation]:
        rows = self.db.execute(
            "SELECT c.*, (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id) AS n "
            "FROM conversations c ORDER BY c.updated DESC, c.id DESC LIMIT ?", (limit,))
        return [_conversation(row) for row in rows]

    def rename(self, conversation_id: int, title: str) -> None:
        self.db.execute("UPDATE conversations SET title = ? WHERE id = ?", (title.strip(), conversation_id))

    def delete(self, conversation_id: int) -> None:
        self.db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))

    def touch(self, conversation_id: int, *, model: str | None = None, persona: str | None = None) -> None:
        self.db.execute(
            "UPDATE conversations SET updated = ?, model = coalesce(?, model), persona = coalesce(?, persona) "
            "WHERE id = ?", (time.time(), model, persona, conversation_id))

    # messages --------------------------------------------------------------------------------

    def add_message(self, conversation_id: int, role: str, content: str, *, model: str = "",
                    persona: str = "", thinking: str = "",
                    images: tuple[StoredImage, ...] = ()) -> StoredMessage:
        """Append and commit one message; the first user message titles an untitled conversation."""
        now = time.time()
        with self._saving(), self.db:
            self.db.execute("BEGIN IMMEDIATE")
            cursor = self.db.execute(
                "INSERT INTO messages(conversation_id, role, content, created, model, persona, thinking, images) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (conversation_id, role, content, now, model, persona, thinking, _images_json(images)))
            title = " ".join(content.split())[:60] if role == "user" else ""
            self.db.execute(
                "UPDATE conversations SET updated = ?, title = CASE WHEN title = '' THEN ? ELSE title END "
                "WHERE id = ?", (now, title, conversation_id))
        return StoredMessage(int(cursor.lastrowid or 0), conversation_id, role, content, now, model, persona,
                             thinking, tuple(images))

    def update_message(self, message_id: int, content: str, *, thinking: str | None = None) -> None:
        """Rewrite a message's text (an answer saved as it streams); its thinking too when given."""
        with self._saving():
            if thinking is None:
                self.db.execute("UPDATE messages SET content = ? WHERE id = ?", (content, message_id))
            else:
                self.db.execute("UPDATE messages SET content = ?, thinking = ? WHERE id = ?",
                                (content, thinking, message_id))

    def delete_message(self, message_id: int) -> None:
        self.db.execute("DELETE FROM messages WHERE id = ?", (message_id,))

    def messages(self, conversation_id: int) -> list[StoredMessage]:
        rows = self.db.execute(
            "SELECT id, conversation_id, role, content, created, model, persona, thinking, images FROM messages "
            "WHERE conversation_id = ? ORDER BY id", (conversation_id,))
        return [StoredMessage(row["id"], row["conversation_id"], row["role"], row["content"], row["created"],
                              row["model"], row["persona"], row["thinking"], _images_from(row["images"]))
                for row in rows]

    # search and export -----------------------------------------------------------------------

    def search(self, text: str, limit: int = 50) -> list[SearchHit]:
        """Conversations whose messages (by FTS5) or title (by substring) match `text`, newest first."""
        query = _fts_query(text)
        if not query:
            return []
        rows = self.db.execute(
            """
            SELECT c.*, (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id) AS n, hit.snippet
            FROM conversations c
            JOIN (
                SELECT m.conversation_id AS cid,
                       snippet(messages_fts, 0, '[', ']', '…', 8) AS snippet,
                       messages_fts.rank AS rank
                FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid
                WHERE messages_fts MATCH ?
                UNION ALL
                SELECT id, title, 0 FROM conversations WHERE title LIKE ? ESCAPE '\\'
            ) AS hit ON hit.cid = c.id
            GROUP BY c.id
            ORDER BY c.updated DESC
            LIMIT ?
            """,
            (query, "%" + text.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%",
             limit))
        return [SearchHit(_conversation(row), row["snippet"]) for row in rows]

    def export_markdown(self, conversation_id: int) -> str:
        conversation = self.conversation(conversation_id)
        lines = [f"# {conversation.title or 'Conversation'}", ""]
        meta = [f"model: {conversation.model}" if conversation.model else "",
                f"persona: {conversation.persona}" if conversation.persona else "",
                time.strftime("%Y-%m-%d %H:%M", time.localtime(conversation.created))]
        lines += ["_" + " · ".join(m for m in meta if m) + "_", ""]
        for message in self.messages(conversation_id):
            lines += [f"## {message.role.capitalize()}", ""]
            if message.thinking:
                lines += ["> " + line for line in message.thinking.rstrip().splitlines()] + [""]
            lines += [message.content.rstrip(), ""]
        return "\n".join(lines)

    # drafts ----------------------------------------------------------------------------------

    def save_draft(self, text: str, slot: str = "prompt") -> None:
        if text:
            self.db.execute("INSERT INTO drafts(slot, text, updated) VALUES (?, ?, ?) "
                            "ON CONFLICT(slot) DO UPDATE SET text = excluded.text, updated = excluded.updated",
                            (slot, text, time.time()))
        else:
            self.db.execute("DELETE FROM drafts WHERE slot = ?", (slot,))

    def draft(self, slot: str = "prompt") -> str:
        row = self.db.execute("SELECT text FROM drafts WHERE slot = ?", (slot,)).fetchone()
        return row[0] if row else ""


def _conversation(row: sqlite3.Row) -> Conversation:
    return Conversation(row["id"], row["title"], row["model"], row["persona"], row["created"], row["updated"],
                        row["n"])
