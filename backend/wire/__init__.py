"""One module per wire protocol, shared by the HTTP API (the server) and the remote backends (the clients)."""
