"""The in-process Backend: the store, the scheduler and llama.cpp behind one interface."""
