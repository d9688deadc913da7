"""From settings to a loaded renderer: probe the device, plan the tuning, load, optionally warm up."""

from __future__ import annotations

import logging

from mesh.settings import Settings
from visual_svc.devices import PlanOptions, plan_for, probe
from visual_svc.pipeline import Renderer, load_renderer, warm_up
from visual_svc.studio import RendererLoader

log = logging.getLogger("visual_svc.loader")


def plan_options(settings: Settings) -> PlanOptions:
    """The ``visual_*`` settings that steer the device plan."""
    return PlanOptions(
        dtype=settings.visual_dtype,
        channels_last=settings.visual_channels_last,
        compile=settings.visual_compile,
        low_vram_gib=settings.visual_low_vram_gib,
        pad_batches=settings.visual_pad_batches,
        max_batch=settings.visual_max_batch,
    )


def settings_loader(settings: Settings) -> RendererLoader | None:
    """A blocking loader for the configured model, or None when no model is configured."""
    path = settings.visual_model_path.strip()
    if not path:
        return None

    def load() -> tuple[Renderer, str]:
        plan = plan_for(probe(settings.visual_device), plan_options(settings))
        renderer = load_renderer(
            path, plan, config_dir=settings.visual_model_config, name=settings.visual_model_name
        )
        if settings.visual_warmup or plan.compile:
            log.info("warm-up took %.1fs", warm_up(renderer))
        return renderer, plan.device

    return load
