"""The HTTP API: Ollama's REST endpoints and OpenAI's /v1, served by `ember serve`."""
