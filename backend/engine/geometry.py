"""A model's shape as memory sees it: bytes per layer, attention heads, vocabulary.

From a GGUF's tensor table (exact), or from the metadata `show` returns and the model's size
(an estimate that spreads the weights evenly over the layers).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from ember.backend.cachetypes import F16
from ember.backend.store.ggufmeta import TensorSize, read_tensor_sizes

_INPUT_TENSORS = ("token_embd", "token_types", "position_embd")  # stay in host memory


@dataclass(frozen=True)
class ModelGeometry:
    n_layer: int
    n_embd: int
    n_head: int
    n_head_kv: tuple[int, ...]  # per layer (some architectures vary it)
    key_length: int  # per head
    value_length: int
    n_vocab: int
    n_ff: int
    layer_bytes: tuple[int, ...]  # weights of each repeating block
    input_bytes: int  # token embeddings: llama.cpp keeps them on the CPU
    output_bytes: int  # the output head and final norm: offloaded after every block is
    shared_bytes: int = 0  # bytes counted in both input and output (a tied output head)

    @property
    def weights_bytes(self) -> int:
        return self.input_bytes + sum(self.layer_bytes) + self.output_bytes - self.shared_bytes

    def kv_bytes(self, layer: int, cells: int, value_bytes: float = F16.value_bytes) -> int:
        """The KV cache one layer needs for `cells` tokens, each value taking `value_bytes`."""
        return round(cells * self.n_head_kv[layer] * (self.key_length + self.value_length) * value_bytes)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelGeometry:
        """Read a recorded geometry; a uniform model may give one int for layer_bytes and n_head_kv."""
        values = dict(data)
        n_layer = int(values["n_layer"])
        for key in ("layer_bytes", "n_head_kv"):
            item = values[key]
            values[key] = tuple(item) if isinstance(item, list) else (int(item),) * n_layer
        return cls(**{k: v for k, v in values.items() if k in cls.__dataclass_fields__})


def _arch_value(kv: dict[str, Any], name: str, default: Any = 0) -> Any:
    return kv.get(f"{kv.get('general.architecture', '')}.{name}", default)


def _per_layer(value: Any, n_layer: int) -> tuple[int, ...]:
    if isinstance(value, (list, tuple)):
        items = [int(v) for v in value][:n_layer]
        return tuple(items + [items[-1] if items else 0] * (n_layer - len(items)))
    return (int(value or 0),) * n_layer


def _heads(kv: dict[str, Any], n_layer: int) -> tuple[int, tuple[int, ...], int, int]:
    n_embd = int(_arch_value(kv, "embedding_length") or 0)
    heads = _per_layer(_arch_value(kv, "attention.head_count"), max(n_layer, 1))
    n_head = max(heads, default=0)
    heads_kv = _per_layer(_arch_value(kv, "attention.head_count_kv", None) or list(heads), n_layer)
    key_length = int(_arch_value(kv, "attention.key_length") or (n_embd // n_head if n_head else 0))
    value_length = int(_arch_value(kv, "attention.value_length") or key_length)
    return n_head, heads_kv, key_length, value_length


def geometry_from_tensors(kv: dict[str, Any], tensors: dict[str, TensorSize]) -> ModelGeometry:
    """Exact geometry from a GGUF's metadata and tensor table."""
    n_layer = int(_arch_value(kv, "block_count") or 0)
    n_head, heads_kv, key_length, value_length = _heads(kv, n_layer)
    layers = [0] * n_layer
    input_bytes = output_bytes = 0
    for name, tensor in tensors.items():
        if name.startswith("blk."):
            index = int(name.split(".")[1])
            if index < n_layer:
                layers[index] += tensor.nbytes
                continue
        if name.startswith(_INPUT_TENSORS):
            input_bytes += tensor.nbytes
        else:
            output_bytes += tensor.nbytes
    embd = tensors.get("token_embd.weight")
    shared = 0
    if "output.weight" not in tensors and embd is not None:
        shared = embd.nbytes  # tied: llama.cpp puts a second copy next to the output head
        output_bytes += shared
    n_vocab = int(_arch_value(kv, "vocab_size") or 0) or (embd.shape[1] if embd and len(embd.shape) > 1 else 0)
    return ModelGeometry(
        n_layer=n_layer,
        n_embd=int(_arch_value(kv, "embedding_length") or 0),
        n_head=n_head,
        n_head_kv=heads_kv,
        key_length=key_length,
        value_length=value_length,
        n_vocab=n_vocab,
        n_ff=max(_per_layer(_arch_value(kv, "feed_forward_length"), max(n_layer, 1)), default=0),
        layer_bytes=tuple(layers),
        input_bytes=input_bytes,
        output_bytes=output_bytes,
        shared_bytes=shared,
    )


def geometry_from_gguf(path: Path) -> ModelGeometry:
    """Exact geometry of a GGUF file, read once per file version (a header walk takes tens of ms)."""
    stat = Path(path).stat()
    return _geometry_of(Path(path), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=64)
def _geometry_of(path: Path, size: int, mtime_ns: int) -> ModelGeometry:
    kv, tensors = read_tensor_sizes(path)
    return geometry_from_tensors(kv, tensors)


def geometry_from_info(info: dict[str, Any], size: int) -> ModelGeometry:
    """An estimate from `show`'s model_info and the model's size, for when the file is not at hand.

    The embeddings take vocabulary × embedding at the file's average bytes per weight, counted
    again for the output head (exact when the head is not tied, a little high when it is); the
    rest is spread evenly over the layers.
    """
    n_layer = int(_arch_value(info, "block_count") or 0)
    n_embd = int(_arch_value(info, "embedding_length") or 0)
    n_head, heads_kv, key_length, value_length = _heads(info, n_layer)
    n_vocab = int(_arch_value(info, "vocab_size") or 0)
    params = int(info.get("general.parameter_count") or 0)
    per_weight = size / params if params else 0.5625  # Q4_K's 4.5 bits when the count is unknown
    embd = min(int(n_vocab * n_embd * per_weight), size // 2)
    per_layer = (size - embd) // n_layer if n_layer else 0
    return ModelGeometry(
        n_layer=n_layer,
        n_embd=n_embd,
        n_head=n_head,
        n_head_kv=heads_kv,
        key_length=key_length,
        value_length=value_length,
        n_vocab=n_vocab,
        n_ff=max(_per_layer(_arch_value(info, "feed_forward_length"), max(n_layer, 1)), default=0),
        layer_bytes=(per_layer,) * n_layer,
        input_bytes=embd,
        output_bytes=embd,
        shared_bytes=embd,
    )
