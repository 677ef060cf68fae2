"""ember's engine: model store, Modelfiles, llama.cpp inference and the HTTP API.

Nothing in this package imports Textual; front ends talk to it through `backend.service.Backend`.
"""

__version__ = "0.1.0"
