"""The chat screen, one job per module: the layout and its actions (screen), the prompt's draft kept as it
is typed (drafts), slash commands and Tab completion (commands), an answer streamed into its view
(answer), code blocks copied (codecopy)."""

from ember.tui.app.screens.chat.screen import ChatScreen

__all__ = ["ChatScreen"]
