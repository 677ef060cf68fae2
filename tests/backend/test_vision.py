"""Images through a vision projector, for real: image file → projector → embeddings → SmolLM2's decode.

The projector has random weights (tests/visionfixture.py), so what the model says is nonsense; what is
asserted is what holds whatever the weights: the turn completes, the image's tokens are evaluated into
the sequence, cached images are reused, and every way to send a bad image is one clear error.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from ember.backend.errors import InvalidRequest, ModelfileError, ModelNotFound
from ember.backend.local.requestlimits import MAX_IMAGE_PIXELS
from ember.backend.models.create import create_model
from ember.backend.models.modelfile import parse_modelfile
from ember.backend.store.modelstore import MEDIA_PROJECTOR, ModelStore
from ember.backend.store.names import parse_name
from ember.backend.types import ChatRequest, GenerateRequest, Message

from tests.visionfixture import IMAGE_SIZE, PATCH, png_base64, png_bytes, png_header

IMAGE_TOKENS = (IMAGE_SIZE // PATCH) ** 2  # the fixture's projector: one token per patch
QUICK = {"temperature": 0, "num_predict": 3, "seed": 1}


async def answer(backend, request):  # type: ignore[no-untyped-def]
    chunks = [c async for c in (backend.chat(request) if isinstance(request, ChatRequest)
                                else backend.generate(request))]
    return "".join(c.text for c in chunks), chunks[-1]


def ask(model: str, images: list[str], text: str = "What is in the picture?") -> ChatRequest:
    return ChatRequest(model=model, messages=[Message("user", text, images=images)], options=QUICK)


async def test_a_second_from_stores_the_projector_and_show_says_vision(backend, vision_model):
    info = await backend.show(vision_model)
    assert "vision" in info.capabilities
    assert info.projector_info["general.architecture"] == "clip"
    assert info.projector_info["clip.vision.projection_dim"] == 576
    record = backend.record(vision_model)
    assert record.manifest.layer(MEDIA_PROJECTOR) is not None
    assert "FROM " + str(record.projector) in info.modelfile  # show --modelfile re-creates it
    assert "vision" not in (await backend.show("smollm2:135m")).capabilities


async def test_an_image_is_evaluated_into_the_prompt_and_the_answer_completes(backend, vision_model):
    _text, plain = await answer(backend, ask(vision_model, [], "Say hi about nothing."))
    backend.scheduler.residents()[0].runner.forget()  # every prompt below is read whole
    text, seen = await answer(backend, ask(vision_model, [png_base64()], "Say hi about nothing."))
    assert seen.done and seen.done_reason in ("stop", "length")
    assert seen.timings.eval_count >= 1
    # the image's positions, and the newline Ollama's placement puts after its marker
    assert seen.timings.prompt_eval_count - plain.timings.prompt_eval_count == IMAGE_TOKENS + 1


async def test_the_same_image_again_is_reused_from_the_cache_and_another_is_read(backend, vision_model):
    _, first = await answer(backend, ask(vision_model, [png_base64(seed=5)]))
    _, again = await answer(backend, ask(vision_model, [png_base64(seed=5)]))
    _, other = await answer(backend, ask(vision_model, [png_base64(seed=6)]))
    assert again.timings.prompt_evaluated < IMAGE_TOKENS  # the whole prefix, image included, was cached
    assert other.timings.prompt_evaluated > IMAGE_TOKENS  # a new image is evaluated from where it stands
    assert again.timings.prompt_eval_count == first.timings.prompt_eval_count  # the whole prompt, cached or not
    assert first.done and other.done


async def test_two_images_in_two_messages_and_generate_with_an_image(backend, vision_model):
    messages = [Message("user", "first", images=[png_base64(seed=7)]), Message("assistant", "ok"),
                Message("user", "and this?", images=[png_base64(30, 20, seed=8)])]
    _, two = await answer(backend, ChatRequest(model=vision_model, messages=messages, options=QUICK))
    _, one = await answer(backend, GenerateRequest(model=vision_model, prompt="Describe it.",
                                                   images=[png_base64(seed=9)], options=QUICK))
    assert two.done and one.done
    assert one.timings.prompt_eval_count > IMAGE_TOKENS


async def test_a_model_without_a_projector_answers_ollamas_400(backend):
    with pytest.raises(InvalidRequest, match='"smollm2:135m" does not support vision'):
        await answer(backend, ask("smollm2:135m", [png_base64()]))
    with pytest.raises(ModelNotFound):
        await answer(backend, ask("nosuch-model", [png_base64()]))


@pytest.mark.parametrize(("image", "error"), [
    ("not base64!", "image 1 is not valid base64"),
    (base64.b64encode(b"hello, not a picture").decode(), "image 1 is not an image file"),
    (base64.b64encode(b"GIF89a" + b"\0" * 30).decode(), "image 1 is not an image file"),
])
async def test_a_bad_image_is_one_line(backend, vision_model, image, error):
    with pytest.raises(InvalidRequest, match=error) as caught:
        await answer(backend, ask(vision_model, [png_base64(), image][1:]))
    assert "\n" not in str(caught.value)


async def test_an_image_with_too_many_pixels_is_refused_before_it_is_decoded(backend, vision_model):
    side = int(MAX_IMAGE_PIXELS ** 0.5) + 1
    header_only = png_header(side, side) + png_bytes(1, 1)[33:]  # a small file that claims a huge picture
    with pytest.raises(InvalidRequest, match="pixels"):
        await answer(backend, ask(vision_model, [base64.b64encode(header_only).decode()]))


def test_a_second_from_must_be_a_projector_and_a_third_is_refused(models_dir: Path, smollm2_gguf: Path,
                                                                  projector_gguf: Path):
    store = ModelStore(models_dir)
    with pytest.raises(ModelfileError, match="must be a vision projector .* this one is llama"):
        list(create_model(store, parse_name("notseer"), f"FROM smollm2:135m\nFROM {smollm2_gguf}\n", Path("/")))
    with pytest.raises(ModelfileError, match="three times"):
        parse_modelfile(f"FROM a\nFROM {projector_gguf}\nFROM {projector_gguf}\n")
    with pytest.raises(ModelfileError, match="over the API"):
        list(create_model(store, parse_name("notseer"), f"FROM smollm2:135m\nFROM {projector_gguf}\n", None))


async def test_an_image_turn_and_a_text_turn_decode_side_by_side(backend, vision_model):
    import asyncio

    longer = {**QUICK, "num_predict": 12}
    (_, seen), (_, plain) = await asyncio.gather(
        answer(backend, ChatRequest(model=vision_model, options=longer,
                                    messages=[Message("user", "Look.", images=[png_base64(seed=31)])])),
        answer(backend, ChatRequest(model=vision_model, options=longer,
                                    messages=[Message("user", "No picture here, just text.")])))
    assert seen.done and plain.done
    assert seen.timings.prompt_eval_count > IMAGE_TOKENS
    assert plain.timings.eval_count >= 1
