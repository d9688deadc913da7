"""Fixtures for the visual service tests: the tiny random-weight SD pipeline on disk, settings, a renderer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from mesh.settings import Settings
from tests.visual.tiny_sd import build_tiny_sd
from visual_svc.devices import PlanOptions, plan_for, probe
from visual_svc.pipeline import DiffusersRenderer, load_renderer

ROOT = Path(__file__).resolve().parents[2]
WORLDS = ROOT / "worlds"
WORLD = "ashen-reach"
MAX_BATCH = 4

# The test machine's cores are shared: one intra-op thread avoids spin-waiting threads fighting for them.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny pipeline, saved once per session as a diffusers model folder."""
    return build_tiny_sd(tmp_path_factory.mktemp("models") / "tiny-sd")


def visual_settings(model: Path | str = "", **overrides: Any) -> Settings:
    """Settings for an in-process visual_svc on the CPU in float32, batches padded to MAX_BATCH."""
    values: dict[str, Any] = {
        "visual_model_path": str(model),
        "visual_device": "cpu",
        "visual_dtype": "float32",
        "visual_pad_batches": "always",
        "visual_max_batch": MAX_BATCH,
        "visual_batch_window_ms": 50.0,
        "worlds_dir": WORLDS,
        "default_world": WORLD,
        "visual_metrics_port": 0,
        "health_poll_s": 0.05,
        "grace_period_s": 1.0,
        "moderation_backend": "rules",
        "memory_addr": "127.0.0.1:9",  # nothing listens: tests that need memory give an address
        "default_deadline_s": 5.0,
        "visual_store_timeout_s": 2.0,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="session")
def renderer(tiny_model: Path) -> DiffusersRenderer:
    """The tiny model loaded through the service's own loader, batches padded to MAX_BATCH."""
    plan = plan_for(probe("cpu"), PlanOptions(dtype="float32", pad_batches="always", max_batch=MAX_BATCH))
    return load_renderer(tiny_model, plan)
