"""Backends over HTTP: an Ollama-compatible server, or an OpenAI-compatible one; addresses, probing, named endpoints."""
