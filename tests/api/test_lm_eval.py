"""lm-evaluation-harness, installed as users install it, scoring a multiple-choice and a perplexity task
against `ember serve`: its remote tokenizer (/tokenizer_info, /tokenize), then prompts as token ids with
echo and logprobs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ember.backend.pull.packages import PACKAGED_MODELS, packaged_layers
from ember.backend.pull.register import register_gguf
from ember.backend.store.modelstore import ModelStore
from ember.backend.store.names import parse_name

from tests.api.conftest import MODEL
from tests.remote.conftest import ember_serve

QUESTIONS = [
    {"question": "The capital of France is", "choices": [" Paris", " banana", " Tuesday"], "answer": 0},
    {"question": "The capital of Japan is", "choices": [" a bicycle", " Tokyo", " blue"], "answer": 1},
    {"question": "Water is made of hydrogen and", "choices": [" oxygen", " cheese", " music"], "answer": 0},
    {"question": "The opposite of hot is", "choices": [" seven", " purple", " cold"], "answer": 2},
]
STORY = [{"text": "Marta sold umbrellas near the harbour, and on dry days she repaired clocks instead."},
         {"text": "In winter the ferry stopped at noon, so the baker walked across the frozen bay with bread."}]
PERPLEXITY = """task: story
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: loglikelihood_rolling
doc_to_text: ""
doc_to_target: "{{{{text}}}}"
metric_list:
  - metric: word_perplexity
"""
TASK = """task: capitals
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: multiple_choice
doc_to_text: "{{{{question}}}}"
doc_to_choice: "{{{{choices}}}}"
doc_to_target: "{{{{answer}}}}"
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
"""


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_multiple_choice_and_perplexity_tasks_are_scored_through_prompt_logprobs(tmp_path: Path, smollm2_gguf: Path) -> None:
    store = ModelStore(tmp_path / "models")  # one model: the tokenizer endpoints need not be told which
    register_gguf(store, parse_name(MODEL), smollm2_gguf, extra_layers=packaged_layers(store, PACKAGED_MODELS[MODEL]))
    data = tmp_path / "capitals.jsonl"
    data.write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS))
    (tmp_path / "capitals.yaml").write_text(TASK.format(data=data))
    story = tmp_path / "story.jsonl"
    story.write_text("".join(json.dumps(doc) + "\n" for doc in STORY))
    (tmp_path / "story.yaml").write_text(PERPLEXITY.format(data=story))
    env = {**os.environ, "EMBER_MODELS": str(tmp_path / "models"), "EMBER_DATA": str(tmp_path / "data"),
           "EMBER_CONFIG": str(tmp_path / "config"), "EMBER_NUM_THREAD": "2"}
    lm_eval = shutil.which("lm_eval", path=str(Path(sys.executable).parent))
    assert lm_eval is not None, "lm-eval is a test dependency: scripts/install.sh installs it"
    with ember_serve(env, tmp_path) as (url, _process):
        done = subprocess.run(
            [lm_eval, "--model", "local-completions", "--model_args",
             f"model={MODEL},base_url={url}/v1/completions,num_concurrent=1,max_retries=1",
             "--tasks", "capitals,story", "--include_path", str(tmp_path), "--batch_size", "4",
             "--output_path", str(tmp_path / "results"), "--log_samples"],
            env={**env, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}, capture_output=True, text=True,
            timeout=280, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Using remote tokenizer" in done.stderr
    results = json.loads(next((tmp_path / "results").rglob("results_*.json")).read_text())
    assert results["results"]["capitals"]["acc,none"] >= 0.75
    assert 1 < results["results"]["story"]["word_perplexity,none"] < 10_000  # windows of a text, scored whole
    samples = [json.loads(line) for line in next((tmp_path / "results").rglob("samples_capitals_*.jsonl")).open()]
    assert len(samples) == len(QUESTIONS)
    for sample in samples:
        scores = [float(resp[0][0]) for resp in sample["resps"]]  # (log likelihood, is greedy) per choice
        assert len(scores) == 3 and all(score < 0 for score in scores)
