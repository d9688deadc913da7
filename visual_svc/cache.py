"""Finished images keyed by everything that decides their pixels, least recently used evicted first.

The key hashes (model fingerprint, prompt, negative prompt, size, steps, guidance, scheduler, seed): two requests
with the same key get the same PNG, so a repeat costs a dictionary look-up instead of a render.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass

from mesh.metrics import counter


def cache_key(
    model: str,
    prompt: str,
    negative_prompt: str,
    width: int,
    height: int,
    steps: int,
    guidance_scale: float,
    scheduler: str,
    seed: int,
) -> str:
    """SHA-256 of the canonical JSON of the render inputs (guidance rounded so float32 noise cannot split it)."""
    payload = json.dumps(
        [
            model,
            prompt,
            negative_prompt,
            width,
            height,
            steps,
            round(float(guidance_scale), 4),
            scheduler,
            seed,
        ],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class CachedImage:
    """What is kept per key: the PNG and its hash."""

    png: bytes
    sha256: str


class ImageCache:
    """A byte-bounded LRU of PNGs; thread-safe; ``max_bytes`` 0 disables it."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, CachedImage] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._lookups = counter(
            "dm_visual_cache_lookups_total", "Image cache look-ups by result.", ("result",)
        )

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: str) -> CachedImage | None:
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
        self._lookups.labels("hit" if hit is not None else "miss").inc()
        return hit

    def put(self, key: str, image: CachedImage) -> None:
        size = len(image.png)
        if size > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= len(old.png)
            self._items[key] = image
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, evicted = self._items.popitem(last=False)
                self._bytes -= len(evicted.png)
