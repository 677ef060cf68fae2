"""Shared fixtures: one model store and one loaded model for the whole test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from ember.backend.config import Config
from ember.backend.pull.packages import PACKAGED_MODELS, find_packaged_gguf, packaged_layers
from ember.backend.pull.register import register_gguf
from ember.backend.store.modelstore import ModelStore
from ember.backend.store.names import parse_name

DEFAULT_MODEL = "smollm2:135m"


@pytest.fixture(scope="session")
def smollm2_gguf() -> Path:
    return find_packaged_gguf(PACKAGED_MODELS[DEFAULT_MODEL])


@pytest.fixture(scope="session")
def session_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private data/config home for the session, so tests never touch the user's models."""
    home = tmp_path_factory.mktemp("ember-home")
    os.environ["EMBER_DATA"] = str(home / "data")
    os.environ["EMBER_CONFIG"] = str(home / "config")
    os.environ["EMBER_MODELS"] = str(home / "models")
    os.environ.pop("EMBER_HOST", None)
    os.environ["EMBER_IN_PROCESS"] = "1"  # an `ember serve` someone runs on this machine is not the tests' store
    os.environ.pop("EMBER_API_KEY", None)
    return home


@pytest.fixture(scope="session")
def models_dir(session_home: Path, smollm2_gguf: Path) -> Path:
    """A store holding the embedded default model as `ember pull` installs it (hard-linked, so this is instant)."""
    root = session_home / "models"
    store = ModelStore(root)
    register_gguf(store, parse_name(DEFAULT_MODEL), smollm2_gguf,
                  extra_layers=packaged_layers(store, PACKAGED_MODELS[DEFAULT_MODEL]))
    return root


@pytest.fixture(scope="session")
def config(models_dir: Path) -> Config:
    return Config(models=models_dir, keep_alive="-1")


@pytest.fixture(scope="session")
def backend(config: Config):
    """The real in-process backend; the model loads once and stays for the session."""
    from ember.backend.local.local_backend import LocalBackend

    return LocalBackend(config)


@pytest.fixture(scope="session")
def runner(smollm2_gguf: Path):
    from ember.backend.engine.runner import Runner

    loaded = Runner(smollm2_gguf, num_ctx=2048)
    yield loaded
    loaded.close()


VISION_MODEL = "seer:latest"


@pytest.fixture(scope="session")
def projector_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny random-weight vision projector for SmolLM2 (tests/visionfixture.py), built once."""
    from tests.visionfixture import write_projector

    return write_projector(tmp_path_factory.mktemp("vision") / "mmproj-ember-test-f32.gguf")


@pytest.fixture(scope="module")
def vision_model(backend, models_dir: Path, projector_gguf: Path):  # type: ignore[no-untyped-def]
    """SmolLM2 with that projector, made as Ollama makes one: a Modelfile with a second FROM. Unloaded
    and removed when the module ends, so later tests find only their own models."""
    from ember.backend.models.create import create_model

    store = ModelStore(models_dir)
    modelfile = f"FROM {DEFAULT_MODEL}\nFROM {projector_gguf}\n"
    for _event in create_model(store, parse_name(VISION_MODEL), modelfile, projector_gguf.parent):
        pass
    yield VISION_MODEL
    key = backend._key(backend.record(VISION_MODEL))
    backend.scheduler.unload(key)
    backend.embedders.unload(key)
    store.delete(parse_name(VISION_MODEL))


SHORT_MODEL = "short/smol:latest"


@pytest.fixture(scope="module")
def short_model(models_dir: Path):  # type: ignore[no-untyped-def]
    """SmolLM2 that answers in at most 24 tokens, for tests that need an answer, not a long one (a sampled
    answer may otherwise run on to the end of the context on a busy machine). Removed when the module ends."""
    from ember.backend.models.create import create_model

    store = ModelStore(models_dir)
    for _event in create_model(store, parse_name(SHORT_MODEL), f"FROM {DEFAULT_MODEL}\nPARAMETER num_predict 24\n",
                               None):
        pass
    yield SHORT_MODEL
    store.delete(parse_name(SHORT_MODEL))
