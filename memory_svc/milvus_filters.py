"""Milvus filter expressions built from constant templates and typed parameters, never from pasted strings.

A real Milvus server receives the template and ``filter_params`` as separate fields (its parser binds them).
Milvus Lite 3.x parses ``{name}`` literally and ignores the parameters, so for it the parameters are rendered
here as literals: numbers and booleans by type, strings quoted with every quote and backslash escaped, lists
element by element. Either way a value is data: ``1" or "1" == "1`` stays one string literal.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}

Scalar = int | float | bool | str
Param = Scalar | Sequence[Scalar]


@dataclass(frozen=True, slots=True)
class FilterExpr:
    """A filter template such as ``"audience <= {max_audience}"`` with its parameter values."""

    template: str
    params: Mapping[str, Param] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = set(_PLACEHOLDER.findall(self.template))
        if names != set(self.params):
            raise ValueError(
                f"filter template placeholders {sorted(names)} != parameters {sorted(self.params)}"
            )

    def rendered(self) -> str:
        """The expression with every parameter as a literal (for servers without template support)."""
        return _PLACEHOLDER.sub(lambda m: literal(self.params[m.group(1)]), self.template)

    def search_kwargs(self, templates_supported: bool) -> dict[str, Any]:
        """``filter``/``filter_params`` keyword arguments for ``MilvusClient.search``."""
        if templates_supported:
            return {"filter": self.template, "filter_params": dict(self.params)}
        return {"filter": self.rendered()}

    def request_kwargs(self, templates_supported: bool) -> dict[str, Any]:
        """``expr``/``expr_params`` keyword arguments for ``AnnSearchRequest``."""
        if templates_supported:
            return {"expr": self.template, "expr_params": dict(self.params)}
        return {"expr": self.rendered()}


def literal(value: Param) -> str:
    """A Milvus expression literal for ``value``; anything but numbers, booleans, strings and lists is refused."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("filter parameters must be finite numbers")
        return repr(value)
    if isinstance(value, str):
        return '"' + "".join(_ESCAPES.get(ch, ch) for ch in value) + '"'
    if isinstance(value, Sequence):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    raise TypeError(f"unsupported filter parameter type {type(value).__name__}")
