"""The `ember` command line: its verbs, `ember doctor`, and how it prints."""
