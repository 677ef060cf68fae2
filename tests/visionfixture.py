"""A tiny vision projector for the tests: a valid mmproj GGUF with random weights.

No small vision model exists here, so the tests build one that llama.cpp's multimodal library
loads: LLaVA's two-layer MLP projector (`mlp`) over a one-layer ViT on 32×32 images in 8×8
patches (16 image tokens), projected to SmolLM2-135M's embedding width. SmolVLM's own `idefics3`
type cannot be used: its image tokens (`<fake_token_around_image>`, `<global-img>`) are not in
SmolLM2's vocabulary, so llama.cpp would feed it token -1.
Its answers are nonsense; everything around them (tokens, positions, decode) is real.
"""

from __future__ import annotations

import base64
import struct
import zlib
from pathlib import Path

import numpy as np

TEXT_WIDTH = 576  # SmolLM2-135M's embedding length
IMAGE_SIZE, PATCH = 32, 8
WIDTH, FFN, HEADS = 32, 64, 2


def write_projector(path: Path, *, seed: int = 0) -> Path:
    """Write the projector GGUF at `path` (deterministic for a seed)."""
    import gguf

    rng = np.random.default_rng(seed)

    def weights(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.02).astype(np.float32)

    writer = gguf.GGUFWriter(str(path), "clip")
    writer.add_string("general.name", "ember test projector")
    writer.add_string("clip.projector_type", "mlp")
    writer.add_bool("clip.has_vision_encoder", True)
    writer.add_bool("clip.use_gelu", True)
    writer.add_uint32("clip.vision.embedding_length", WIDTH)
    writer.add_uint32("clip.vision.feed_forward_length", FFN)
    writer.add_uint32("clip.vision.block_count", 1)
    writer.add_uint32("clip.vision.projection_dim", TEXT_WIDTH)
    writer.add_uint32("clip.vision.attention.head_count", HEADS)
    writer.add_float32("clip.vision.attention.layer_norm_epsilon", 1e-6)
    writer.add_uint32("clip.vision.image_size", IMAGE_SIZE)
    writer.add_uint32("clip.vision.patch_size", PATCH)
    writer.add_array("clip.vision.image_mean", [0.5, 0.5, 0.5])
    writer.add_array("clip.vision.image_std", [0.5, 0.5, 0.5])

    patches = (IMAGE_SIZE // PATCH) ** 2
    writer.add_tensor("v.patch_embd.weight", weights(WIDTH, 3, PATCH, PATCH).astype(np.float16))
    writer.add_tensor("v.patch_embd.bias", weights(WIDTH))
    writer.add_tensor("v.position_embd.weight", weights(patches, WIDTH))
    for name, shape in [("attn_q", (WIDTH, WIDTH)), ("attn_k", (WIDTH, WIDTH)), ("attn_v", (WIDTH, WIDTH)),
                        ("attn_out", (WIDTH, WIDTH)), ("ffn_up", (FFN, WIDTH)), ("ffn_down", (WIDTH, FFN))]:
        writer.add_tensor(f"v.blk.0.{name}.weight", weights(*shape))
        writer.add_tensor(f"v.blk.0.{name}.bias", weights(shape[0]))
    for norm in ("v.blk.0.ln1", "v.blk.0.ln2", "v.post_ln"):
        writer.add_tensor(f"{norm}.weight", np.ones(WIDTH, dtype=np.float32))
        writer.add_tensor(f"{norm}.bias", np.zeros(WIDTH, dtype=np.float32))
    writer.add_tensor("mm.0.weight", weights(TEXT_WIDTH, WIDTH))
    writer.add_tensor("mm.0.bias", weights(TEXT_WIDTH))
    writer.add_tensor("mm.2.weight", weights(TEXT_WIDTH, TEXT_WIDTH))
    writer.add_tensor("mm.2.bias", weights(TEXT_WIDTH))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def png_bytes(width: int = 24, height: int = 16, *, seed: int = 1) -> bytes:
    """A small RGB PNG (zlib and the PNG chunk layout are all it takes)."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    raw = b"".join(b"\0" + pixels[row].tobytes() for row in range(height))
    return png_header(width, height) + _chunk(b"IDAT", zlib.compress(raw)) + _chunk(b"IEND", b"")


def png_header(width: int, height: int) -> bytes:
    """A PNG's signature and header alone: what a reader sees before any pixel."""
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_base64(width: int = 24, height: int = 16, *, seed: int = 1) -> str:
    return base64.b64encode(png_bytes(width, height, seed=seed)).decode()
