"""visual_svc: portraits, vistas and item art from a local Stable Diffusion pipeline (diffusers).

One worker per device batches compatible requests; prompts come from the lore with the world's style preset;
results are cached by a hash of everything that decides the pixels and stored in memory_svc as assets.
"""
