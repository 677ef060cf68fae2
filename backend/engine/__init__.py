"""Inference: Runner (one loaded model), Scheduler (which runners are resident), sampling, text."""
