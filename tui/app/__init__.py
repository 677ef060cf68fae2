"""The ember terminal app: chat, model library, parameters and personas on one keyboard."""
