"""Token counting with a real tokenizer: the embedding model's own WordPiece tokenizer (``tokenizer.json``).

It ships offline with the model, so counts need no network and match what the embedder truncates at. It is a
BERT uncased WordPiece vocabulary, not the text model's; Llama-family tokenizers typically produce a similar
or smaller count on English prose, so a budget counted here is a safe upper bound in practice, not exact.
"""

from __future__ import annotations

import threading
from pathlib import Path

from tokenizers import Tokenizer


class TokenCounter:
    """Counts tokens of texts (no special tokens, no truncation)."""

    def __init__(self, model_path: Path, name: str) -> None:
        self._tokenizer = Tokenizer.from_file(str(model_path / "tokenizer.json"))
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()
        self._lock = threading.Lock()
        self.name = name

    def count(self, text: str) -> int:
        """Number of tokens in ``text``."""
        return self.count_many([text])[0]

    def count_many(self, texts: list[str]) -> list[int]:
        """Token counts of several texts in one batched call."""
        return [len(ids) for ids in self._encode(texts)]

    def _encode(self, texts: list[str]) -> list[list[int]]:
        with self._lock:
            encodings = self._tokenizer.encode_batch(texts, add_special_tokens=False)
        return [e.ids for e in encodings]
