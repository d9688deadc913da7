"""Prometheus metrics of the text layer: tokens, requests per endpoint, time to first token, failovers."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from mesh import metrics


def tokens() -> Counter:
    """Tokens consumed, by backend, model and kind ("prompt" or "completion")."""
    return metrics.counter(
        "dm_text_tokens_total", "Tokens used by text generation.", ("backend", "model", "kind")
    )


def requests() -> Counter:
    """Requests sent to model endpoints, by endpoint and outcome ("ok", "error", "rejected", "cancelled", "deadline")."""
    return metrics.counter(
        "dm_text_requests_total", "HTTP requests to text-model endpoints.", ("endpoint", "outcome")
    )


def failovers() -> Counter:
    """Requests moved to another endpoint, by phase ("before_first_token", "mid_stream", "whole_request")."""
    return metrics.counter("dm_text_failovers_total", "Text requests moved to another endpoint.", ("phase",))


def first_token_seconds() -> Histogram:
    """Time from sending a streamed request to its first text token, by backend."""
    return metrics.histogram(
        "dm_text_first_token_seconds", "Time to the first streamed token (s).", ("backend",)
    )


def record_usage(backend: str, model: str, prompt_tokens: int, completion_tokens: int) -> None:
    """Count one result's token usage."""
    counter = tokens()
    if prompt_tokens:
        counter.labels(backend, model, "prompt").inc(prompt_tokens)
    if completion_tokens:
        counter.labels(backend, model, "completion").inc(completion_tokens)
