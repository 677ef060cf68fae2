import pytest

from tui.chatcommands import CommandError, help_text, is_command, parse_command, syntax_hint
from tui.codeblocks import code_blocks


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
