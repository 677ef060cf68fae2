"""GGUF files written with gguf-py for the attacks: a tiny valid one, and a real model with another template."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def tiny_gguf(path: Path) -> Path:
    """A small well-formed GGUF (a llama header and one tensor): it parses, so only a refusal keeps it out."""
    import gguf

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("secret")
    writer.add_context_length(2048)
    writer.add_embedding_length(8)
    writer.add_block_count(1)
    writer.add_head_count(1)
    writer.add_tensor("token_embd.weight", np.zeros((4, 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def with_chat_template(source: Path, target: Path, template: str) -> Path:
    """A copy of the GGUF `source` (weights and all) whose `tokenizer.chat_template` is `template`."""
    import gguf

    reader = gguf.GGUFReader(source)
    writer = gguf.GGUFWriter(str(target), str(reader.fields["general.architecture"].contents()))
    for item in reader.fields.values():
        if item.name in (gguf.Keys.General.ARCHITECTURE, gguf.Keys.Tokenizer.CHAT_TEMPLATE) \
                or item.name.startswith("GGUF."):
            continue
        kind = item.types[0]
        writer.add_key_value(item.name, item.contents(), kind,
                             sub_type=item.types[-1] if kind == gguf.GGUFValueType.ARRAY else None)
    writer.add_chat_template(template)
    for tensor in reader.tensors:
        writer.add_tensor(tensor.name, tensor.data, raw_shape=tensor.data.shape, raw_dtype=tensor.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return target
