"""The model store: Ollama's layout of manifests and blobs, names, model records, GGUF metadata, digests."""
