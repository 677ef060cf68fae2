"""The conversation model shared by the app and the plain REPL: turns, settings, slash commands, code blocks."""
