"""PNG encoding that is a pure function of the pixels and the parameters, so equal images are equal bytes.

The parameters go into ``tEXt`` chunks (a PNG viewer shows how the image was made); nothing time- or
host-dependent is written, so the SHA-256 of the bytes identifies the image for deduplication.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Mapping

import numpy as np
import numpy.typing as npt
from PIL import Image, PngImagePlugin


def encode_png(pixels: npt.NDArray[np.uint8], text: Mapping[str, str] | None = None) -> bytes:
    """HxWx3 uint8 pixels -> PNG bytes with ``text`` as tEXt chunks (keys sorted for a stable order)."""
    if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] != 3:
        raise ValueError(f"expected HxWx3 uint8 pixels, got {pixels.dtype} {pixels.shape}")
    info = PngImagePlugin.PngInfo()
    for key in sorted(text or {}):
        info.add_text(key, (text or {})[key])
    buf = io.BytesIO()
    Image.fromarray(pixels, mode="RGB").save(buf, format="PNG", pnginfo=info, compress_level=6)
    return buf.getvalue()


def sha256_hex(data: bytes) -> str:
    """The asset identity memory_svc deduplicates by."""
    return hashlib.sha256(data).hexdigest()
