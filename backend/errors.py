"""One small hierarchy of errors, raised in the backend and shown by each front end its own way."""

from __future__ import annotations


class EmberError(Exception):
    """A failure the user can act on; its message says what went wrong and what to do."""

    status = 500


class InvalidName(EmberError):
    status = 400


class ModelNotFound(EmberError):
    status = 404

    def __init__(self, name: str) -> None:
        super().__init__(f'model "{name}" not found — see "ember list", or "ember pull {name}"')
        self.name = name


class InvalidModelFile(EmberError):
    """A file that should be a GGUF model is not one (wrong magic, truncated, unreadable)."""

    status = 400


class CorruptBlob(EmberError):
    status = 500


class InvalidRequest(EmberError):
    status = 400


class PullError(EmberError):
    status = 400


class Offline(PullError):
    """The source of a pull cannot be reached; the message lists the models already here."""

    status = 503


class NotInRegistry(PullError):
    """The registry has no such model, or no such tag of it."""

    status = 404


class DiskFull(PullError):
    """Not enough free space for a download; what was fetched is kept, so pulling again resumes."""

    status = 507


class ModelfileError(EmberError):
    """A Modelfile that does not parse; carries the line and column of the mistake."""

    status = 400

    def __init__(self, message: str, line: int = 0, column: int = 0) -> None:
        where = f"Modelfile line {line}, column {column}: " if line and column else f"Modelfile line {line}: " if line else ""
        super().__init__(where + message)
        self.line = line
        self.column = column


class ServerBusy(EmberError):
    """More answers are waiting than EMBER_MAX_QUEUE allows: the client should try again shortly."""

    status = 503


class Cancelled(EmberError):
    status = 499


class RemoteError(EmberError):
    """A server ember talks to cannot be reached, times out, or stops in the middle of an answer."""

    status = 502


class Unauthorized(RemoteError):
    """A server refused the key (or wants one)."""

    status = 401


class NotSupported(EmberError):
    """An operation the server's API does not have (pull, create, delete, copy on an OpenAI-compatible server)."""

    status = 501


class TemplateError(EmberError):
    """A chat template that does not parse, refuses the conversation, or breaks a rendering limit."""

    status = 400
