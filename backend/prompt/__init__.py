"""From messages to a prompt and back: chat templates (Jinja and Go syntax), tool calls, grammars."""
