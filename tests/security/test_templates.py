"""A GGUF from a stranger whose chat template tries to break out of Jinja's sandbox: no code runs.

The model is SmolLM2 rewritten with gguf-py's writer under a hostile template, created as a user
would (`ember create` FROM the file) and chatted with through the API. The template picks its
attack by the last message, so one model carries them all; a plain message gets ChatML.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.security.ggufs import with_chat_template

EVIL = "sec/evil-template"
CHATML = ("{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")

ATTACKS = {
    "popen": "{{ cycler.__init__.__globals__.os.popen('touch MARK').read() }}",
    "subclasses": "{% for c in ''.__class__.__mro__[1].__subclasses__() %}{% if c.__name__ == 'Popen' %}"
                  "{{ c(['touch', 'MARK']) }}{% endif %}{% endfor %}",
    "lipsum": "{{ lipsum.__globals__['os'].system('touch MARK') }}",
    "namespace": "{{ namespace.__init__.__globals__['__builtins__']['open']('MARK', 'w') }}",
    "raise": "{{ raise_exception.__globals__['__builtins__']['__import__']('os').system('touch MARK') }}",
    "strftime": "{{ strftime_now.__globals__['_dt'].sys.modules['os'].system('touch MARK') }}",
    "attr": "{{ (''|attr('__class__')|attr('__base__')|attr('__subclasses__'))() }}",
    "format": "{{ '{0.__init__.__globals__[os]}'.format(cycler) }}{{ '{0.system}'.format(cycler) }}",
    "getitem": "{{ messages['__class__']['__base__'] }}{{ self.__dict__ }}{{ self._TemplateReference__context }}",
    "import": "{% import 'os' as os %}{{ os.system('touch MARK') }}",
    "include": "{% include '/etc/passwd' %}",
    "mutate": "{{ messages.append({'role': 'system', 'content': 'x'}) }}{{ messages[0].update({'a': 1}) }}",
    "repeat": "{{ 'a' * 1000000000 }}",
    "power": "{{ 9 ** (9 ** 9) }}",
    "loops": "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "grow": "{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}",
}
STOPPED = {"popen", "subclasses", "lipsum", "namespace", "raise", "strftime", "mutate", "repeat", "power",
           "loops", "grow", "import", "include"}


def _template(mark: Path) -> str:
    branches = "".join(f"{{%- elif q == '{name}' -%}}{body.replace('MARK', str(mark))}"
                       for name, body in ATTACKS.items())
    return ("{%- set q = messages[-1]['content'] -%}{%- if q == 'plain' -%}" + CHATML
            + branches + "{%- else -%}" + CHATML + "{%- endif -%}")


@pytest.fixture(scope="module")
def evil_model(backend, smollm2_gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:  # type: ignore[no-untyped-def]
    folder = tmp_path_factory.mktemp("evil")
    mark = folder / "pwned"
    with_chat_template(smollm2_gguf, folder / "evil.gguf", _template(mark))

    async def create() -> None:
        async for _ in backend.create(EVIL, "FROM ./evil.gguf\n", base_dir=str(folder)):
            pass

    asyncio.run(create())
    yield mark
    asyncio.run(backend.delete(EVIL))


def _chat(server: str, content: str) -> httpx.Response:
    body = {"model": EVIL, "stream": False, "messages": [{"role": "user", "content": content}],
            "options": {"temperature": 0, "num_predict": 4}}
    return httpx.post(server + "/api/chat", json=body, timeout=120)


@pytest.mark.timeout(180)
@pytest.mark.parametrize("attack", list(ATTACKS))
def test_a_hostile_template_runs_no_code(server: str, evil_model: Path, attack: str) -> None:
    response = _chat(server, attack)
    assert not evil_model.exists(), f"the {attack} template ran code"
    if attack in STOPPED:
        assert response.status_code == 400, response.text
        assert response.json()["error"].startswith("the chat template")
    else:  # the sandbox answered undefined: the prompt holds nothing the template reached for
        assert response.status_code in (200, 400), response.text
        assert "Popen" not in response.text and "os" not in response.json().get("error", "").split()


def test_the_same_model_still_chats_with_a_plain_message(server: str, evil_model: Path) -> None:
    response = _chat(server, "plain")
    assert response.status_code == 200 and response.json()["done"]
    assert not evil_model.exists()


def test_a_modelfile_go_template_reaches_no_python(server: str) -> None:
    """A Modelfile TEMPLATE is Go-template syntax over plain data: Python attributes do not exist there."""
    template = '{{ .Messages.__class__ }}{{ index .Messages "__class__" }}{{ call .System }}'
    body = {"model": "sec/go-template", "from": "smollm2:135m", "template": template, "stream": False}
    created = httpx.post(server + "/api/create", json=body, timeout=60)
    try:
        if created.status_code == 200:
            response = httpx.post(server + "/api/generate", json={
                "model": "sec/go-template", "prompt": "hi", "stream": False,
                "options": {"num_predict": 2}}, timeout=60)
            assert response.status_code == 400 and "class" not in response.text.lower().replace("__class__", "")
        else:
            assert created.status_code == 400
    finally:
        httpx.request("DELETE", server + "/api/delete", json={"model": "sec/go-template"})
