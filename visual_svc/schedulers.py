"""The schedulers a request may pick, built from the model's own scheduler config (its beta schedule).

DPM-Solver++ 2M with Karras sigmas is the default: it reaches a clean image in 20-25 steps where the
PNDM/DDIM defaults of SD checkpoints want 50.
"""

from __future__ import annotations

from typing import Any

from visual_svc.spec import SCHEDULERS

#: name -> (diffusers class name, overrides applied on top of the model's scheduler config)
_RECIPES: dict[str, tuple[str, dict[str, Any]]] = {
    "dpmpp-2m-karras": (
        "DPMSolverMultistepScheduler",
        {"algorithm_type": "dpmsolver++", "solver_order": 2, "use_karras_sigmas": True},
    ),
    "euler-a": ("EulerAncestralDiscreteScheduler", {}),
    "ddim": ("DDIMScheduler", {}),
    "pndm": ("PNDMScheduler", {"skip_prk_steps": True}),
}
assert tuple(_RECIPES) == SCHEDULERS, "spec.SCHEDULERS and the recipes must list the same names"


def make_scheduler(name: str, base_config: Any) -> Any:
    """A fresh scheduler ``name`` sharing the model's training noise schedule (``base_config``)."""
    import diffusers

    class_name, overrides = _RECIPES[name]
    cls = getattr(diffusers, class_name)
    return cls.from_config(base_config, **overrides)
