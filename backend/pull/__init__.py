"""Pull sources: where model files come from, behind one `register_gguf` into the store."""
