"""A generation's provenance as the contracts' ``GenerationInfo`` (shared by every service that generates text)."""

from __future__ import annotations

from dungeonmaster.v1 import common_pb2
from mesh.text.types import Provenance


def info_proto(info: Provenance | None) -> common_pb2.GenerationInfo:
    """``info`` as the contract's GenerationInfo (empty when there is none)."""
    if info is None:
        return common_pb2.GenerationInfo()
    return common_pb2.GenerationInfo(
        backend=info.backend,
        model=info.model,
        seed=info.seed,
        procedural=info.procedural,
        prompt_tokens=info.prompt_tokens,
        completion_tokens=info.completion_tokens,
        latency_ms=info.latency_ms,
    )
