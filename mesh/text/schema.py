"""Parse and validate a model's JSON answer against a JSON schema plus the caller's own check."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

from jsonschema import Draft202012Validator


@functools.lru_cache(maxsize=64)
def _validator(schema_json: str) -> Draft202012Validator:
    schema = json.loads(schema_json)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def validator_for(schema: dict[str, Any]) -> Draft202012Validator:
    """A cached validator for ``schema`` (schemas are small and reused on every request)."""
    return _validator(json.dumps(schema, sort_keys=True))


def validate_json(
    text: str,
    schema: dict[str, Any],
    check: Callable[[dict[str, Any]], list[str]] | None = None,
) -> tuple[dict[str, Any] | None, list[str]]:
    """``(object, [])`` when ``text`` is a JSON object valid against ``schema`` and ``check``; else ``(None, problems)``."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, [f"not valid JSON: {exc.msg} at position {exc.pos}"]
    if not isinstance(data, dict):
        return None, [f"expected a JSON object, got {type(data).__name__}"]
    errors = sorted(validator_for(schema).iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        return None, [
            f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}" for e in errors[:10]
        ]
    if check is not None:
        problems = check(data)
        if problems:
            return None, list(problems)
    return data, []
