import pytest
from ember.backend.errors import TemplateError
from ember.backend.prompt.jinja import render_chat
from ember.backend.store.ggufmeta import read_gguf_meta
from ember.backend.types import Message


def test_smollm2s_own_chatml_template_renders_the_conversation(smollm2_gguf):
    template = read_gguf_meta(smollm2_gguf).chat_template
    prompt = render_chat(template, [Message("system", "Be brief."), Message("user", "Hi")])
    assert prompt == "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"


def test_a_model_without_a_template_gets_a_plain_transcript():
    prompt = render_chat(None, [Message("user", "Hi")])
    assert prompt.endswith("User: Hi\nAssistant:")


@pytest.mark.parametrize(
    "template",
    [
        "{{ messages.__class__.__mro__[1].__subclasses__() }}",
        "{{ raise_exception.__globals__ }}",
        "{{ ''.__class__.__base__.__subclasses__() }}",
        "{% set x = messages.append({'role': 'x'}) %}{{ x }}",
        "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    ],
)
def test_templates_that_reach_for_python_internals_cannot_run_code(template):
    try:
        out = render_chat(template, [Message("user", "Hi")])
    except TemplateError:
        return
    assert "uid=" not in out and "subprocess" not in out.lower() and "os" != out


def test_raise_exception_in_a_template_becomes_a_clear_error():
    with pytest.raises(TemplateError, match="only user turns"):
        render_chat("{{ raise_exception('only user turns') }}", [Message("user", "x")])


def test_a_template_that_does_not_parse_is_reported():
    with pytest.raises(TemplateError, match="does not parse"):
        render_chat("{% for %}", [Message("user", "x")])
