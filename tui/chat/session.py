"""One conversation and its settings, shared by the plain REPL and the app: turns and slash commands.

It speaks only to the Backend interface, so a remote server gets the same commands; a persona's
system prompt, MESSAGE turns and parameters are applied here, client-side, so switching persona
keeps the conversation. Each message is committed to the history as it is said.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ember.backend.asyncbridge import closing
from ember.backend.errors import EmberError
from ember.backend.service import Backend
from ember.backend.types import ChatRequest, Chunk, Message, Timings
from ember.tui.chat.attachments import Attachments, reread, stored_images
from ember.tui.chat.imagepaths import Attached
from ember.tui.chat.settings import Setting, parse_value, settings
from ember.tui.chat.slash import CommandError

if TYPE_CHECKING:
    from ember.backend.history import History
    from ember.backend.models.personas import Persona

PARTIAL_SAVE_INTERVAL = 0.5  # seconds between writes of an answer to the history while it streams


@dataclass(frozen=True)
class Author:
    """Who gave an answer: the model and persona (slug) of the moment, kept with the message."""

    model: str
    persona: str = ""


@dataclass
class ChatState:
    model: str
    system: str | None = None  # /set system; None = the persona's or the model's own
    options: dict[str, Any] = field(default_factory=dict)  # /set parameter, the parameters panel
    format: str | None = None
    keep_history: bool = True
    verbose: bool = False
    persona: Persona | None = None
    messages: list[Message] = field(default_factory=list)
    keep_alive: str | float | None = None
    model_parameters: dict[str, Any] = field(default_factory=dict)  # the model's own PARAMETERs, for display
    think: bool | str | None = None  # /set think, /set nothink, --think; None = the model's default
    hide_thinking: bool = False  # --hidethinking: thinking is kept but not shown
    from_panel: set[str] = field(default_factory=set)  # overrides set in the parameters panel (not /set)


class ChatSession:
    def __init__(self, backend: Backend, state: ChatState, history: History | None = None,
                 personas: list[Any] | None = None) -> None:
        self.backend = backend
        self.state = state
        self.history = history
        self.conversation_id: int | None = None
        self.last_timings: Timings | None = None
        self._personas = personas
        self._stored: dict[int, int] = {}  # id() of a message in state.messages -> its history row
        self._authors: dict[int, Author] = {}  # id() of an answer in state.messages -> who gave it
        self._epoch = 0  # counts new conversations: an answer cut short by one is not added to the next
        self.images = Attachments(backend)  # what goes with the next message
        self._images: dict[int, list[Attached]] = {}  # id() of a message -> the files its images came from
        # Where a failed history write is reported; without it the error is raised.
        self.on_save_error: Callable[[EmberError], None] | None = None

    # what the front ends read and set ----------------------------------------------------------

    @property
    def model(self) -> str:
        return self.state.model

    @model.setter
    def model(self, name: str) -> None:
        if name != self.state.model:
            self.state.model = name
            self.state.model_parameters = {}

    @property
    def persona(self) -> Persona | None:
        return self.state.persona

    @property
    def persona_title(self) -> str:
        return self.state.persona.title if self.state.persona is not None else ""

    @property
    def persona_slug(self) -> str:
        return self.state.persona.slug if self.state.persona is not None else ""

    @property
    def overrides(self) -> dict[str, Any]:
        """The parameters set in this chat, over the persona's and the model's."""
        return self.state.options

    @overrides.setter
    def overrides(self, options: dict[str, Any]) -> None:
        self.state.options = options

    @property
    def keep_alive(self) -> str | float | None:
        return self.state.keep_alive

    @keep_alive.setter
    def keep_alive(self, value: str | float | None) -> None:
        self.state.keep_alive = value

    @property
    def turns(self) -> list[Message]:
        return self.state.messages

    @property
    def personas(self) -> list[Any]:
        if self._personas is None:
            from ember.backend.models.personas import load_personas

            self._personas = load_personas()
        return self._personas

    @personas.setter
    def personas(self, personas: list[Any]) -> None:
        self._personas = list(personas)

    # parameters --------------------------------------------------------------------------------

    def effective_options(self) -> dict[str, Any]:
        persona = self.state.persona
        return {**(dict(persona.parameters) if persona else {}), **self.state.options}

    def settings(self) -> list[Setting]:
        persona = dict(self.state.persona.parameters) if self.state.persona is not None else {}
        return settings(self.state.options, persona, self.state.model_parameters, self.backend.defaults())

    def value(self, name: str) -> object:
        return next(s.value for s in self.settings() if s.name == name)

    def set_override(self, name: str, text: str) -> object:
        """Validate `text` for parameter `name` and use it from the next turn; raises InvalidRequest."""
        value = parse_value(name, text)
        self.state.options[name] = value
        self.state.from_panel.add(name)
        return value

    def drop_override(self, name: str) -> None:
        self.state.options.pop(name, None)
        self.state.from_panel.discard(name)

    def chat_level_options(self) -> dict[str, Any]:
        """The overrides set with /set parameter (the panel's own are the others)."""
        return {k: v for k, v in self.state.options.items() if k not in self.state.from_panel}

    def set_persona(self, persona: Persona | None) -> None:
        """Switch persona (None: none), keeping the conversation. Its system prompt, example turns and
        parameters apply from the next answer: the chat's own system prompt and overrides are dropped."""
        self.state.persona = persona
        self.state.system = None
        self.state.options.clear()
        self.state.from_panel.clear()
        history, conversation = self.history, self.conversation_id
        if history is not None and conversation is not None:
            self._saving(lambda: history.touch(conversation, persona=self.persona_slug))

    # turns ------------------------------------------------------------------------------------

    def effective_system(self) -> str | None:
        if self.state.system is not None:
            return self.state.system
        return self.state.persona.system if self.state.persona else None

    def request(self) -> ChatRequest:
        messages: list[Message] = []
        system = self.effective_system()
        if system:
            messages.append(Message("system", system))
        if self.state.persona:
            messages.extend(Message(m.role, m.content) for m in self.state.persona.messages)
        messages.extend(self.state.messages)
        return ChatRequest(model=self.state.model, messages=messages, options=self.effective_options(),
                           format=self.state.format, keep_alive=self.state.keep_alive, think=self.state.think)

    def _saving(self, write: Callable[[], Any]) -> Any:
        try:
            return write()
        except EmberError as exc:
            if self.on_save_error is None:
                raise
            self.on_save_error(exc)
            return None

    def _store(self, role: str, content: str, persona: str, thinking: str = "",
               images: list[Attached] | None = None) -> int | None:
        """Write a message to the history (starting the conversation there); its row, or None."""
        history = self.history
        if history is None or not self.state.keep_history:
            return None

        def write() -> int:
            if self.conversation_id is None:
                self.conversation_id = history.new_conversation(model=self.state.model, persona=persona).id
            return history.add_message(self.conversation_id, role, content, model=self.state.model,
                                       persona=persona, thinking=thinking, images=stored_images(images or [])).id

        return self._saving(write) or None

    def _persist(self, message: Message) -> None:
        row = self._store(message.role, message.content, self.persona_slug, message.thinking,
                          self._images.get(id(message)))
        if row:
            self._stored[id(message)] = row

    def author(self, message: Message) -> Author | None:
        """Who gave this answer, when it is known (answers given or stored with their model)."""
        return self._authors.get(id(message))

    def add_user(self, text: str, images: list[Attached] | None = None) -> None:
        """Add a user message (saved at once, with which images it had); `answer()` then answers it."""
        message = Message("user", text, images=[image.data for image in images or []])
        self.state.messages.append(message)
        if images:
            self._images[id(message)] = list(images)
        self._persist(message)

    def images_of(self, message: Message) -> list[Attached]:
        return self._images.get(id(message), [])

    async def take_images(self, text: str) -> tuple[str, list[Attached]]:
        """The next message's text and images (attached ones, and paths in the text for a model that sees)."""
        return await self.images.take(self.state.model, text)

    async def send(self, text: str, images: list[Attached] | None = None) -> AsyncIterator[Chunk]:
        """Add a user message and stream the answer; the answer is kept even if cut short."""
        self.add_user(text, images)
        async for chunk in self.answer():
            yield chunk

    async def answer(self) -> AsyncIterator[Chunk]:
        """Stream the answer to the conversation so far; what was said is kept even if cut short.

        The answer is written to the history as it streams (every PARTIAL_SAVE_INTERVAL), so a
        terminal killed mid-answer loses a moment of it at most."""
        parts: list[str] = []
        thoughts: list[str] = []
        epoch = self._epoch
        author = Author(self.state.model, self.persona_slug)
        row: int | None = None
        next_save = time.monotonic() + PARTIAL_SAVE_INTERVAL
        try:
            async with closing(self.backend.chat(self.request())) as chunks:
                async for chunk in chunks:
                    parts.append(chunk.text)
                    thoughts.append(chunk.thinking)
                    if chunk.done:
                        self.last_timings = chunk.timings
                    elif ((chunk.text or chunk.thinking) and (now := time.monotonic()) >= next_save
                          and epoch == self._epoch):
                        row = self._save_partial(row, "".join(parts), "".join(thoughts), author)
                        next_save = now + PARTIAL_SAVE_INTERVAL
                    yield chunk
        finally:
            text, thinking = "".join(parts), "".join(thoughts)
            if row is not None and (text or thinking):
                self._update(row, text, thinking)
            if (text or thinking) and epoch == self._epoch:
                message = Message("assistant", text, thinking=thinking)
                self.state.messages.append(message)
                self._authors[id(message)] = author
                if row is not None:
                    self._stored[id(message)] = row
                else:
                    self._persist(message)

    def _save_partial(self, row: int | None, text: str, thinking: str, author: Author) -> int | None:
        if row is None:
            return self._store("assistant", text, author.persona, thinking)
        self._update(row, text, thinking)
        return row

    def _update(self, row: int, text: str, thinking: str | None = None) -> None:
        history = self.history
        if history is not None:
            self._saving(lambda: history.update_message(row, text, thinking=thinking))

    def drop_last(self) -> Message | None:
        """Take the last message out of the conversation and out of the history."""
        if not self.state.messages:
            return None
        message = self.state.messages.pop()
        self._authors.pop(id(message), None)
        stored = self._stored.pop(id(message), 0)
        history = self.history
        if stored and history is not None:
            self._saving(lambda: history.delete_message(stored))
        return message

    def prepare_retry(self) -> None:
        """Drop the answer(s) after the last user message, so `answer()` answers it again."""
        if not any(m.role == "user" for m in self.state.messages):
            raise CommandError("nothing to retry yet")
        while self.state.messages and self.state.messages[-1].role != "user":
            self.drop_last()

    def take_back_last(self) -> str:
        """Drop the last user message and what followed it, and return its text to edit and send again."""
        if not any(m.role == "user" for m in self.state.messages):
            raise CommandError("no message to edit yet")
        while self.state.messages and self.state.messages[-1].role != "user":
            self.drop_last()
        message = self.drop_last()
        return message.content if message else ""

    def clear(self) -> None:
        """Start a new conversation (the stored one stays in the history)."""
        self.state.messages.clear()
        self._stored.clear()
        self._images.clear()
        self._authors.clear()
        self.conversation_id = None
        self._epoch += 1

    def open_conversation(self, conversation_id: int) -> None:
        """Continue a stored conversation: its messages, and its persona when there still is one."""
        if self.history is None:
            raise EmberError("history is off in this session")
        conversation = self.history.conversation(conversation_id)
        self.clear()
        for stored in self.history.messages(conversation.id):
            files = reread(stored.images)
            message = Message(stored.role, stored.content, images=[f.data for f in files], thinking=stored.thinking)
            if files:
                self._images[id(message)] = files
            self.state.messages.append(message)
            self._stored[id(message)] = stored.id
            if stored.role == "assistant" and stored.model:
                self._authors[id(message)] = Author(stored.model, stored.persona)
        self.conversation_id = conversation.id
        if conversation.persona:
            self.state.persona = next((p for p in self.personas if p.slug == conversation.persona), None)

