"""Domain errors: what went wrong, in the domain's words, without any transport.

Domain modules raise these; the server interceptor (``mesh.status``) turns them into gRPC status codes with
``google.rpc.Status`` details. This module must never import grpc so rules and storage code stay transport-free.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence


class DomainError(Exception):
    """Base class: an expected failure the caller should see (unexpected ones become INTERNAL)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(DomainError):
    """Bad input: one or more request fields violate their constraints.

    ``violations`` is a list of ``(field path, description)`` pairs; the message names every field so even a
    client that ignores the rich details learns which field was wrong.
    """

    def __init__(self, violations: list[tuple[str, str]]) -> None:
        if not violations:
            raise ValueError("InvalidArgument needs at least one (field, description) violation")
        self.violations = list(violations)
        super().__init__("invalid argument: " + "; ".join(f"{f}: {d}" for f, d in self.violations))


class NotFound(DomainError):
    """A named resource does not exist; ``field``, when given, is the request field that named it."""

    def __init__(self, resource: str, name: str, field: str = "") -> None:
        self.resource = resource
        self.name = name
        self.field = field
        prefix = f"{field}: " if field else ""
        super().__init__(f"{prefix}{resource} {name!r} not found")


class AlreadyExists(DomainError):
    """A resource with this name exists already."""

    def __init__(self, resource: str, name: str) -> None:
        self.resource = resource
        self.name = name
        super().__init__(f"{resource} {name!r} already exists")


class FailedPrecondition(DomainError):
    """The system is not in a state where the operation is allowed (retrying as-is will not help).

    ``precondition`` lists (type, subject, description) of what failed, for PreconditionFailure details."""

    precondition: Sequence[tuple[str, str, str]] = ()


class Unauthenticated(DomainError):
    """The caller could not be identified (no verified certificate, key or identity)."""


class PermissionDenied(DomainError):
    """The caller is authenticated but may not do this."""


class Unavailable(DomainError):
    """A dependency (model server, vector store, another service) is down; the call may succeed later.

    ``reason`` is a short UPPER_SNAKE code and ``domain`` names the dependency; both go into ErrorInfo.
    """

    def __init__(self, message: str, reason: str = "", domain: str = "") -> None:
        super().__init__(message)
        self.reason = reason
        self.domain = domain


class ResourceExhausted(DomainError):
    """A quota or rate limit was hit; ``retry_after_s`` tells the client when to try again (RetryInfo)."""

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class Unimplemented(DomainError):
    """The operation exists in the contract but this deployment does not provide it."""


class DeadlineExceeded(DomainError):
    """The work could not finish before the caller's deadline."""


class Violations:
    """Collects field violations so a servicer reports every bad field in one InvalidArgument.

    Usage in a servicer::

        v = Violations()
        v.check(1 <= req.level <= 20, "party[0].level", "must be between 1 and 20")
        v.check(bool(req.terrain), "terrain", "must not be empty")
        v.raise_if_any()
    """

    __slots__ = ("_items",)

    def __init__(self) -> None:
        self._items: list[tuple[str, str]] = []

    def add(self, field: str, description: str) -> None:
        """Record a violation unconditionally."""
        self._items.append((field, description))

    def check(self, condition: bool, field: str, description: str) -> bool:
        """Record a violation when ``condition`` is false; returns ``condition`` so callers can branch on it."""
        if not condition:
            self._items.append((field, description))
        return condition

    def extend(self, violations: Iterable[tuple[str, str]], prefix: str = "") -> None:
        """Add violations found by a nested validator, optionally under a field prefix (``"party[2]."``)."""
        for field, description in violations:
            self._items.append((prefix + field, description))

    @property
    def items(self) -> list[tuple[str, str]]:
        """The violations recorded so far."""
        return list(self._items)

    def __bool__(self) -> bool:
        return bool(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def raise_if_any(self) -> None:
        """Raise one InvalidArgument carrying every recorded violation, if there are any."""
        if self._items:
            raise InvalidArgument(list(self._items))


def require(condition: bool, field: str, description: str) -> None:
    """Raise InvalidArgument for a single field right away when ``condition`` is false."""
    if not condition:
        raise InvalidArgument([(field, description)])


def require_range(value: float, low: float, high: float, field: str) -> None:
    """Raise InvalidArgument unless ``low <= value <= high`` (the usual check for levels, sizes, counts)."""
    if not low <= value <= high:
        raise InvalidArgument([(field, f"must be between {low} and {high}, got {value}")])


def require_non_empty(value: str, field: str) -> None:
    """Raise InvalidArgument when a required string is empty or blank."""
    if not value.strip():
        raise InvalidArgument([(field, "must not be empty")])
