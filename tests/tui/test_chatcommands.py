import pytest
from ember.tui.chat.codeblocks import code_blocks
from ember.tui.chat.slash import (
    SPECS,
    CommandError,
    complete,
    help_text,
    is_command,
    multiline_body,
    multiline_open,
    needs_arguments,
    parse_command,
    syntax_hint,
)


@pytest.mark.parametrize(
    "line, name, args, rest",
    [
        ("/set parameter temperature 0.2", "/set parameter", ("temperature", "0.2"), "temperature 0.2"),
        ("/set parameter stop <|end|> ###", "/set parameter", ("stop", "<|end|>", "###"), "stop <|end|> ###"),
        ('/set system "You are terse."', "/set system", ("You are terse.",), '"You are terse."'),
        ("/set system You're terse", "/set system", ("You're", "terse"), "You're terse"),
        ("/set format json", "/set format", ("json",), "json"),
        ("/set nohistory", "/set nohistory", (), ""),
        ("/set verbose", "/set verbose", (), ""),
        ("/set quiet", "/set quiet", (), ""),
        ("/show info", "/show info", (), ""),
        ("/show modelfile", "/show modelfile", (), ""),
        ("/load gemma3:270m", "/load", ("gemma3:270m",), "gemma3:270m"),
        ("/save mine/terse", "/save", ("mine/terse",), "mine/terse"),
        ("/persona architect", "/persona", ("architect",), "architect"),
        ("/retry", "/retry", (), ""),
        ("/copy 2", "/copy", ("2",), "2"),
        ("/export chat.md", "/export", ("chat.md",), "chat.md"),
        ("/search kv cache", "/search", ("kv", "cache"), "kv cache"),
        ("/clear", "/clear", (), ""),
        ("/bye", "/bye", (), ""),
        ("/exit", "/bye", (), ""),
        ("/?", "/?", (), ""),
        ("/? shortcuts", "/?", ("shortcuts",), "shortcuts"),
        ("/help", "/?", (), ""),
        ("  /clear  ", "/clear", (), ""),
    ],
)
def test_commands_parse(line, name, args, rest):
    command = parse_command(line)
    assert (command.name, command.args, command.rest) == (name, args, rest)


@pytest.mark.parametrize(
    "line, message",
    [
        ("/bogus", "Unknown command '/bogus'"),
        ("/sav x", 'did you mean "/save"'),
        ("/set", "/set needs a subcommand: parameter, system"),
        ("/set paramter x 1", 'did you mean "/set parameter"'),
        ("/show nothing", "Unknown command '/show nothing'"),
    ],
)
def test_unknown_or_mistyped_commands_answer_with_help(line, message):
    with pytest.raises(CommandError) as err:
        parse_command(line)
    assert message in str(err.value)
    assert "/?" in str(err.value) or "subcommand" in str(err.value)


def test_only_slash_lines_are_commands():
    assert is_command("/set verbose") and is_command("  /bye")
    assert not is_command("what does /usr/bin hold?")


def test_help_lists_every_command_and_multiline():
    text = help_text()
    for syntax in ("/set parameter NAME VALUE", "/show info", "/load MODEL", "/save NAME", "/persona NAME",
                   "/copy [N]", "/export FILE.md", "/search TEXT", "/bye", '"""'):
        assert syntax in text


def test_syntax_hint_follows_what_is_typed():
    assert "/set parameter NAME VALUE" in syntax_hint("/set par")
    assert syntax_hint("/load") == "/load MODEL"


def test_code_blocks_are_found_with_their_language():
    answer = "Try:\n\n```python\nprint('hi')\n```\n\nor\n\n```\nls -la\n```\n"
    blocks = code_blocks(answer)
    assert [(b.language, b.code) for b in blocks] == [("python", "print('hi')\n"), ("", "ls -la\n")]


MODELS = ["smollm2:135m", "smollm2:360m", "mine/terse"]
PERSONAS = ["architect", "reviewer"]


@pytest.mark.parametrize(
    "text, completed, choices",
    [
        ("/lo", "/load ", []),  # needs a model name: a space follows
        ("/cl", "/clear", []),
        ("/se", "/se", ["/search", "/set format", "/set history", "/set noformat", "/set nohistory",
                        "/set nothink", "/set nowordwrap", "/set parameter", "/set quiet", "/set system",
                        "/set think", "/set verbose", "/set wordwrap"]),
        ("/set p", "/set parameter ", []),
        ("/set parameter tem", "/set parameter temperature ", []),
        ("/set parameter top_", "/set parameter top_", ["/set parameter top_k", "/set parameter top_p"]),
        ("/load smo", "/load smollm2:", ["/load smollm2:135m", "/load smollm2:360m"]),
        ("/load mi", "/load mine/terse", []),
        ("/persona r", "/persona reviewer", []),
        ("/nothing", "/nothing", []),
        ("hello", "hello", []),
    ],
)
def test_tab_completion(text, completed, choices):
    assert complete(text, MODELS, PERSONAS) == (completed, choices)


@pytest.mark.parametrize("name, needs", [("/load", True), ("/set system", True), ("/export", True),
                                         ("/set format", False), ("/copy", False), ("/?", False),
                                         ("/bye", False), ("/show info", False)])
def test_which_commands_need_more_typed(name, needs):
    assert needs_arguments(next(s for s in SPECS if s.name == name)) is needs


@pytest.mark.parametrize(
    "text, still_open, body",
    [
        ('"""', True, ""),
        ('"""\nfirst', True, "first"),
        ('"""\nfirst\nsecond"""', False, "first\nsecond"),
        ('"""one line"""', False, "one line"),
        ("plain\ntext", False, "plain\ntext"),
    ],
)
def test_triple_quoted_multi_line_messages(text, still_open, body):
    assert multiline_open(text) is still_open
    if not still_open:
        assert multiline_body(text) == body
