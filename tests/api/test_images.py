"""Images over HTTP with the official clients: Ollama's `images`, OpenAI's image_url, Anthropic's image blocks.

The model is SmolLM2 with the random-weight projector of tests/visionfixture.py (see tests/conftest.py):
the answers are nonsense, the path from the file to the decode is real.
"""

from __future__ import annotations

from pathlib import Path

import anthropic
import httpx
import ollama
import openai
import pytest

from tests.api.conftest import MODEL
from tests.visionfixture import IMAGE_SIZE, PATCH, png_base64, png_bytes

QUICK = {"temperature": 0, "num_predict": 3, "seed": 1}
IMAGE_TOKENS = (IMAGE_SIZE // PATCH) ** 2


@pytest.fixture(scope="module")
def picture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pictures") / "cat.png"
    path.write_bytes(png_bytes(seed=11))
    return path


def test_show_lists_vision_and_the_projector(server: str, vision_model: str) -> None:
    shown = httpx.post(server + "/api/show", json={"model": vision_model}, timeout=60).json()
    assert "vision" in shown["capabilities"]
    assert shown["projector_info"]["general.architecture"] == "clip"
    assert not httpx.post(server + "/api/show", json={"model": MODEL}, timeout=60).json().get("projector_info")


def test_the_ollama_client_sends_an_image_file_to_chat_and_generate(ollama_client: ollama.Client,
                                                                    vision_model: str, picture: Path) -> None:
    plain = ollama_client.chat(model=vision_model, options=QUICK,
                               messages=[{"role": "user", "content": "What is this? (no picture)"}])
    seen = ollama_client.chat(model=vision_model, options=QUICK,
                              messages=[{"role": "user", "content": "What is this?", "images": [picture]}])
    assert seen.done and seen.message.role == "assistant" and seen.eval_count >= 1
    assert seen.prompt_eval_count > plain.prompt_eval_count  # the image's tokens were read (after the cache)
    generated = ollama_client.generate(model=vision_model, prompt="Describe it.", images=[picture], options=QUICK)
    assert generated.done and generated.prompt_eval_count > IMAGE_TOKENS
    streamed = list(ollama_client.chat(model=vision_model, options=QUICK, stream=True, messages=[
        {"role": "user", "content": "And now?", "images": [str(picture)]}]))
    assert streamed[-1].done and streamed[-1].prompt_eval_count > 0


def test_the_openai_client_sends_an_image_url_data_part(openai_client: openai.OpenAI, vision_model: str) -> None:
    reply = openai_client.chat.completions.create(model=vision_model, max_tokens=3, temperature=0, messages=[
        {"role": "user", "content": [
            {"type": "text", "text": "What is in the picture?"},
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png_base64(seed=12)}"}},
        ]}])
    assert reply.choices[0].finish_reason in ("stop", "length")
    assert reply.usage is not None and reply.usage.prompt_tokens > IMAGE_TOKENS
    with pytest.raises(openai.BadRequestError, match="must be a data URL"):
        openai_client.chat.completions.create(model=vision_model, max_tokens=3, messages=[{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}])


def test_anthropic_image_blocks_and_responses_input_image(server: str, openai_client: openai.OpenAI,
                                                          vision_model: str) -> None:
    client = anthropic.Anthropic(base_url=server, api_key="unused", max_retries=0)
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": png_base64(seed=13)}}
    message = client.messages.create(model=vision_model, max_tokens=3, messages=[
        {"role": "user", "content": [image, {"type": "text", "text": "What is this?"}]}])
    assert message.usage.input_tokens > IMAGE_TOKENS
    response = openai_client.responses.create(model=vision_model, max_output_tokens=3, input=[
        {"role": "user", "content": [{"type": "input_text", "text": "What is this?"},
                                     {"type": "input_image", "image_url": f"data:image/png;base64,{png_base64()}"}]}])
    assert response.status in ("completed", "incomplete")


@pytest.mark.parametrize(("model", "image", "status", "error"), [
    (MODEL, png_base64(), 400, f'"{MODEL}" does not support vision'),
    ("no-such-model", png_base64(), 404, "no-such-model"),
    (None, "not base64!", 400, "image 1 is not valid base64"),
    (None, "aGVsbG8gd29ybGQ=", 400, "image 1 is not an image file"),
])
def test_errors_are_one_line(server: str, vision_model: str, model: str | None, image: str, status: int,
                             error: str) -> None:
    for path, body in [("/api/chat", {"messages": [{"role": "user", "content": "x", "images": [image]}]}),
                       ("/api/generate", {"prompt": "x", "images": [image]})]:
        reply = httpx.post(server + path, json={"model": model or vision_model, "stream": False, **body}, timeout=60)
        assert reply.status_code == status, reply.text
        assert error in reply.json()["error"] and "\n" not in reply.json()["error"]


def test_the_ollama_client_creates_a_vision_model_from_an_uploaded_projector(
        ollama_client: ollama.Client, projector_gguf: Path, server: str) -> None:
    digest = ollama_client.create_blob(projector_gguf)
    ollama_client.create("api/seer", from_=MODEL, files={"mmproj-test-f32.gguf": digest})
    try:
        shown = ollama_client.show("api/seer")
        assert "vision" in (shown.capabilities or [])
        seen = ollama_client.generate(model="api/seer", prompt="What is it?", images=[png_bytes(seed=41)],
                                      options=QUICK)
        assert seen.done and seen.prompt_eval_count > IMAGE_TOKENS
    finally:
        ollama_client.delete("api/seer")
    two = httpx.post(server + "/api/create", timeout=60, json={"model": "api/two", "from": MODEL, "stream": False,
                                                               "files": {"mmproj-a.gguf": digest, "mmproj-b.gguf": digest}})
    assert two.status_code == 400 and "more than one projector" in two.json()["error"]
    model_file = httpx.post(server + "/api/create", timeout=60, json={
        "model": "api/notproj", "from": MODEL, "stream": False, "modelfile": f"FROM {MODEL}\nFROM /etc/passwd\n"})
    assert model_file.status_code == 400 and "over the API" in model_file.json()["error"]
