"""Structured logging: one JSON object per line, with the request id of the call that logged it.

``configure_logging`` installs a single stderr handler on the root logger. A handler filter stamps each record
with the current request id and method (from ``mesh.context``) in the thread that logs, so the id survives
even if a handler formats later. Extra fields passed with ``extra={...}`` become JSON keys.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any, TextIO

from mesh.context import method_var, request_id_var

ACCESS_LOGGER = "mesh.access"

# Attributes every LogRecord has; anything else on a record came from ``extra=`` and is emitted.
_STANDARD = frozenset(
    vars(logging.LogRecord("", logging.INFO, "", 0, "", None, None)).keys()
    | {"message", "asctime", "request_id", "method", "taskName"}
)
_MARK = "_dm_mesh_handler"


class ContextFilter(logging.Filter):
    """Copies the call's request id and method onto the record (never drops a record)."""

    def filter(self, record: logging.LogRecord) -> bool:
        attrs = record.__dict__
        if "request_id" not in attrs:
            attrs["request_id"] = request_id_var.get()
        if "method" not in attrs:
            attrs["method"] = method_var.get()
        return True


class JsonFormatter(logging.Formatter):
    """Formats a record as a single-line JSON object: ts, level, logger, msg, request_id, method, extras."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": _iso(record.created),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        rid = getattr(record, "request_id", "")
        if rid:
            out["request_id"] = rid
        method = getattr(record, "method", "")
        if method:
            out["method"] = method
        attrs = record.__dict__
        for key in attrs.keys() - _STANDARD:
            if not key.startswith("_"):
                out[key] = attrs[key]
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            out["stack"] = record.stack_info
        return json.dumps(out, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """Human-readable lines for a terminal; appends the request id and extras in key=value form."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        attrs = record.__dict__
        extras = [f"{k}={attrs[k]}" for k in sorted(attrs.keys() - _STANDARD) if not k.startswith("_")]
        rid = getattr(record, "request_id", "")
        if rid:
            extras.insert(0, f"request_id={rid}")
        return f"{line} [{' '.join(extras)}]" if extras else line


def configure_logging(
    level: str = "INFO", fmt: str = "json", stream: TextIO | None = None
) -> logging.Handler:
    """Install (or replace) the mesh's handler on the root logger; returns it (tests read its stream)."""
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, _MARK, False):
            root.removeHandler(existing)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(ContextFilter())
    setattr(handler, _MARK, True)
    root.addHandler(handler)
    root.setLevel(level.upper())
    return handler


def _iso(created: float) -> str:
    """UTC ISO-8601 with milliseconds; cheaper than datetime for a hot path."""
    whole = int(created)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{int((created - whole) * 1000):03d}Z"
