"""Read a GGUF file's metadata without loading its weights (through the `gguf` package)."""

from __future__ import annotations

import mmap
import struct
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ember.backend.errors import InvalidModelFile

GGUF_MAGIC = b"GGUF"
_SKIP_PREFIXES = ("tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type",
                  "tokenizer.ggml.merges", "tokenizer.ggml.added_tokens")


@dataclass
class GGUFMeta:
    architecture: str
    parameter_count: int
    file_type: str  # e.g. Q4_1
    context_length: int
    embedding_length: int
    chat_template: str
    license: str
    name: str
    kv: dict[str, Any] = field(default_factory=dict)  # scalar metadata, for `show`

    @property
    def parameter_size(self) -> str:
        """Ollama's rounded label: 134.52M, 7.2B."""
        n = self.parameter_count
        if n >= 1e9:
            return f"{n / 1e9:.1f}B"
        if n >= 1e6:
            return f"{n / 1e6:.2f}M"
        return f"{n / 1e3:.0f}K" if n else ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GGUFMeta:
        return cls(**data)


def is_gguf(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(4) == GGUF_MAGIC
    except OSError:
        return False


def _read_header(path: Path, *, tensors_too: bool = True) -> tuple[dict[str, Any], int, int, dict[str, TensorSize]]:
    """Return (metadata, parameter count, bytes the tensors need, each tensor's size) from a GGUF's header;
    with `tensors_too=False`, the metadata alone (and zeros).

    The `gguf` package's reader builds a numpy object for every vocabulary entry (12 s for a
    49k-token vocabulary here), so the header is walked directly, skipping large arrays.
    """
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        pos = 0

        def take(fmt: str) -> Any:
            nonlocal pos
            value = struct.unpack_from("<" + fmt, buf, pos)
            pos += struct.calcsize("<" + fmt)
            return value[0]

        def text() -> str:
            nonlocal pos
            size = take("Q")
            if pos + size > len(buf):
                raise ValueError("string runs past the end of the file")
            value = bytes(buf[pos : pos + size]).decode("utf-8", "replace")
            pos += size
            return value

        def value(kind: int, keep: bool = True) -> Any:
            if kind == 8:
                return text()
            if kind == 9:
                item_kind, count = take("I"), take("Q")
                if count > len(buf):
                    raise ValueError("array length is larger than the file")
                small = count <= 64
                if item_kind in _SCALARS and not small:
                    nonlocal pos
                    pos += struct.calcsize("<" + _SCALARS[item_kind]) * count
                    return None
                if item_kind == 8 and not small:  # a vocabulary: step over the strings unread
                    for _ in range(count):
                        pos += 8 + struct.unpack_from("<Q", buf, pos)[0]
                    if pos > len(buf):
                        raise ValueError("string array runs past the end of the file")
                    return None
                items = [value(item_kind, small) for _ in range(count)]
                return items if small else None
            if kind not in _SCALARS:
                raise ValueError(f"unknown metadata type {kind}")
            result = take(_SCALARS[kind])
            return bool(result) if kind == 7 else result

        if take("I") != 0x46554747:
            raise ValueError("bad magic")
        version = take("I")
        if version < 2:
            raise ValueError(f"GGUF version {version} is too old")
        n_tensors, n_kv = take("Q"), take("Q")
        kv: dict[str, Any] = {}
        for _ in range(n_kv):
            key = text()
            item = value(take("I"))
            if item is not None:
                kv[key] = item
        if not tensors_too:
            return kv, 0, 0, {}
        # the package takes a while to import: only when the tensors are wanted
        from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

        params, spans, tensors = 0, [], {}
        for _ in range(n_tensors):
            name = text()
            dims = [take("Q") for _ in range(take("I"))]
            qtype, offset = take("I"), take("Q")
            count = 1
            for dim in dims:
                count *= dim
            params += count
            block, type_size = GGML_QUANT_SIZES[GGMLQuantizationType(qtype)]
            tensors[name] = TensorSize(tuple(dims), count // block * type_size)
            spans.append(offset + tensors[name].nbytes)
        alignment = int(kv.get("general.alignment", 32))
        data_start = (pos + alignment - 1) // alignment * alignment
        return kv, params, data_start + max(spans, default=0), tensors


@dataclass(frozen=True)
class TensorSize:
    shape: tuple[int, ...]
    nbytes: int


def read_tensor_sizes(path: Path) -> tuple[dict[str, Any], dict[str, TensorSize]]:
    """A GGUF's scalar metadata and each tensor's shape and size, for estimating memory per layer."""
    try:
        kv, _params, _end, tensors = _read_header(Path(path))
    except (OSError, ValueError, KeyError, struct.error, OverflowError, MemoryError) as exc:
        raise InvalidModelFile(f"{path} is not a readable GGUF file ({exc}); is it truncated?") from exc
    return kv, tensors


def read_gguf_metadata(path: Path) -> dict[str, Any]:
    """A GGUF's scalar metadata (and short arrays) alone: quicker than `read_gguf_meta`."""
    try:
        kv, _params, _end, _tensors = _read_header(Path(path), tensors_too=False)
    except (OSError, ValueError, KeyError, struct.error, OverflowError, MemoryError) as exc:
        raise InvalidModelFile(f"{path} is not a readable GGUF file ({exc}); is it truncated?") from exc
    return kv


_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}


def read_gguf_meta(path: Path) -> GGUFMeta:
    """Parse the header of a GGUF; a file that is not one, or is cut short, is InvalidModelFile."""
    path = Path(path)
    if not path.is_file():
        raise InvalidModelFile(f"{path}: no such file")
    if not is_gguf(path):
        raise InvalidModelFile(f"{path} is not a GGUF model file (it does not start with 'GGUF')")
    try:
        kv, params, end, _tensors = _read_header(path)
    except (ValueError, KeyError, struct.error, OverflowError, MemoryError) as exc:
        raise InvalidModelFile(f"{path} is not a readable GGUF file ({exc}); is it truncated?") from exc
    size = path.stat().st_size
    if end > size:
        raise InvalidModelFile(
            f"{path} is truncated: its tensors need {end} bytes, the file has {size}; download it again"
        )
    from gguf.constants import LlamaFileType

    arch = str(kv.get("general.architecture", ""))
    file_type = kv.get("general.file_type")
    try:
        quant = LlamaFileType(int(file_type)).name.removeprefix("MOSTLY_") if file_type is not None else ""
    except ValueError:
        quant = str(file_type)
    kv = {k: v for k, v in kv.items() if not k.startswith(_SKIP_PREFIXES)}
    return GGUFMeta(
        architecture=arch,
        parameter_count=params,
        file_type=quant,
        context_length=int(kv.get(f"{arch}.context_length", 0) or 0),
        embedding_length=int(kv.get(f"{arch}.embedding_length", 0) or 0),
        chat_template=str(kv.get("tokenizer.chat_template", "") or ""),
        license=str(kv.get("general.license", "") or ""),
        name=str(kv.get("general.name", "") or ""),
        kv=kv,
    )
