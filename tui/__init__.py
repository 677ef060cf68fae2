"""ember's front ends: the `ember` command line, the plain REPL and the Textual app."""
