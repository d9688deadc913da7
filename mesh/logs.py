"""Structured logging: one JSON object per line, with the request id of the call that logged it.

``configure_logging`` installs a single stderr handler on the root logger. A handler filter stamps each record
with the current request id and method (from ``mesh.context``) in the thread that logs, so the id survives
even if a handler formats later. Extra fields passed with ``extra={...}`` become JSON keys.

``AccessLog`` writes the one-line-per-RPC access log. When the mesh JSON handler is the only destination (the
production setup) it formats the line itself from cached pieces and flushes once per event-loop turn, instead
of paying for a LogRecord, the handler chain and a flush per call; otherwise it logs normally. Both produce the
same JSON keys.
"""

from __future__ import annotations

import asyncio
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

#: The handler ``configure_logging`` installed last (the access log's fast path writes to its stream).
_installed: logging.StreamHandler[TextIO] | None = None


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
    global _installed
    _installed = handler
    return handler


_second_int: list[int] = [-1]
_second_str: list[str] = [""]
_MILLIS = tuple(f".{i:03d}Z" for i in range(1000))


def _iso(created: float) -> str:
    """UTC ISO-8601 with milliseconds; the formatted second is cached because this runs once per RPC."""
    whole = int(created)
    if whole != _second_int[0]:
        _second_int[0] = whole
        _second_str[0] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
    return _second_str[0] + _MILLIS[int((created - whole) * 1000)]


#: Access lines are written in batches at most this long after the call ended (one write per batch, not per call).
FLUSH_INTERVAL_S = 0.05
#: ...or as soon as this many lines are waiting.
FLUSH_LINES = 256


class AccessLog:
    """The access log of one service: one JSON line per finished RPC (logger ``mesh.access``)."""

    def __init__(self, service: str) -> None:
        self._service = service
        self._logger = logging.getLogger(ACCESS_LOGGER)
        self._parent = logging.getLogger(ACCESS_LOGGER.rpartition(".")[0])
        self._heads: dict[tuple[str, str, int], tuple[str, str]] = {}
        self._pending: list[str] = []
        self._stream: TextIO | None = None
        self._handler: logging.Handler | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._peers: dict[str, str] = {}

    def enabled(self, level: int) -> bool:
        """Whether a line at ``level`` would be written (check before gathering the fields)."""
        return self._logger.isEnabledFor(level)

    def emit(self, level: int, method: str, code: str, latency_s: float, request_id: str, peer: str) -> None:
        """Write the line for one call; ``request_id`` must be JSON-safe (``mesh.context.safe_request_id``)."""
        handler = self._fast_handler(level)
        if handler is None:
            self._logger.log(
                level,
                "%s %s",
                method,
                code,
                extra={
                    "request_id": request_id,
                    "method": method,
                    "service": self._service,
                    "code": code,
                    "latency_ms": round(latency_s * 1000.0, 3),
                    "peer": peer,
                },
            )
            return
        key = (method, code, level)
        parts = self._heads.get(key)
        if parts is None:
            parts = (
                f'", "level": "{logging.getLevelName(level)}", "logger": "{ACCESS_LOGGER}", '
                f'"msg": {json.dumps(f"{method} {code}")}, "request_id": "',
                f'", "method": {json.dumps(method)}, "service": {json.dumps(self._service)}, '
                f'"code": "{code}", "latency_ms": ',
            )
            self._heads[key] = parts
        peer_json = self._peers.get(peer)
        if peer_json is None:
            if len(self._peers) > 4096:  # peers are per connection: bound the cache
                self._peers.clear()
            peer_json = self._peers[peer] = json.dumps(peer)
        line = f'{{"ts": "{_iso(time.time())}{parts[0]}{request_id}{parts[1]}{latency_s * 1000.0:.3f}, "peer": {peer_json}}}\n'

        if self._pending and handler is not self._handler:
            self.flush()  # logging was reconfigured: finish the old stream first
        self._pending.append(line)
        if len(self._pending) == 1:
            self._stream = handler.stream
            self._handler = handler
            try:
                self._timer = asyncio.get_running_loop().call_later(FLUSH_INTERVAL_S, self.flush)
            except RuntimeError:  # no running loop (a synchronous caller): write now
                self.flush()
        elif len(self._pending) >= FLUSH_LINES:
            self.flush()

    def _fast_handler(self, level: int) -> logging.StreamHandler[TextIO] | None:
        """The mesh JSON handler when it is the only place a ``mesh.access`` record could go, else None."""
        handler = _installed
        if handler is None or not isinstance(handler.formatter, JsonFormatter) or handler.level > level:
            return None
        root_handlers = logging.root.handlers
        if len(root_handlers) != 1 or root_handlers[0] is not handler:
            return None
        logger = self._logger
        if logger.handlers or logger.filters or not logger.propagate or self._parent.handlers:
            return None
        return handler

    def flush(self) -> None:
        """Write the lines gathered so far (servers call this when they stop)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        lines, self._pending = self._pending, []
        stream, handler = self._stream, self._handler
        if not lines or stream is None or handler is None:
            return
        handler.acquire()
        try:
            stream.write("".join(lines))
            stream.flush()
        except (OSError, ValueError):  # closed or broken stream: logging must never fail a call
            pass
        finally:
            handler.release()
