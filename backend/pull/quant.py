"""What a GGUF file name says: its quantisation, whether it is one part of a split model, a model name."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ember.backend.store.names import ModelName, parse_name

DEFAULT_QUANT = "Q4_K_M"

_QUANT = re.compile(r"(?<![A-Za-z0-9])((?:I|T)?Q[1-8](?:_[A-Za-z0-9]+)*|BF16|F16|F32|FP16|FP32)(?![A-Za-z0-9])",
                    re.IGNORECASE)
_SPLIT = re.compile(r"-(\d{5})-of-(\d{5})\.gguf$", re.IGNORECASE)


@dataclass(frozen=True)
class GGUFName:
    path: str  # as given (a repo path, a file name)
    stem: str  # without the split suffix and the extension
    quant: str  # upper case; "" when the name does not say
    part: int  # 1-based; 1 for a file that is not split
    parts: int

    @property
    def is_projector(self) -> bool:
        """A vision projector (mmproj) ships beside the weights; it is not a model on its own."""
        return "mmproj" in self.path.rsplit("/", 1)[-1].lower()


def parse_gguf_name(path: str) -> GGUFName:
    base = path.rsplit("/", 1)[-1]
    split = _SPLIT.search(base)
    if split:
        stem, part, parts = base[: split.start()], int(split.group(1)), int(split.group(2))
    else:
        stem, part, parts = re.sub(r"\.gguf$", "", base, flags=re.IGNORECASE), 1, 1
    found = _QUANT.findall(stem)
    return GGUFName(path, stem, found[-1].upper() if found else "", part, parts)


def split_siblings(name: GGUFName) -> list[str]:
    """The file names of every part of the split model `name` belongs to, in order."""
    base = name.path.rsplit("/", 1)[-1]
    folder = name.path[: len(name.path) - len(base)]
    return [f"{folder}{name.stem}-{i:05d}-of-{name.parts:05d}.gguf" for i in range(1, name.parts + 1)]


def name_for_file(path: str) -> ModelName:
    """A model name for a GGUF file: `model-name:quant` from `Model-Name-Q4_K_M.gguf`."""
    parsed = parse_gguf_name(path)
    model = parsed.stem
    if parsed.quant:
        cut = model.upper().rfind(parsed.quant)
        model = model[:cut] + model[cut + len(parsed.quant) :]
    model = re.sub(r"[^A-Za-z0-9_.\-]+", "-", model).strip("-._")[:80].lower() or "model"
    return parse_name(f"{model}:{parsed.quant.lower() or 'latest'}")
