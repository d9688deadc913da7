"""Look up a world's facts by id, name or alias, case-insensitively, with errors that list the valid choices.

Requests name things the way people do ("the Brinefen", "Countess", "brinefen"); a miss must tell the caller
what would have worked, as an INVALID_ARGUMENT on the field the caller names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

from lore.errors import UnknownChoice

T = TypeVar("T")


def fold(label: str) -> str:
    """Case-, spacing- and article-insensitive form of a label ("The  Brinefen" == "brinefen")."""
    words = label.casefold().split()
    if len(words) > 1 and words[0] == "the":
        words = words[1:]
    return " ".join(words)


class Catalog(Generic[T]):
    """An ordered, read-only set of facts of one kind, indexed by every label of each fact."""

    __slots__ = ("_by_id", "_by_label", "_items", "resource")

    def __init__(
        self, resource: str, items: Iterable[T], key: Callable[[T], str], labels: Callable[[T], Iterable[str]]
    ) -> None:
        self.resource = resource
        self._items: tuple[T, ...] = tuple(items)
        self._by_id: dict[str, T] = {}
        self._by_label: dict[str, T] = {}
        for item in self._items:
            ident = key(item)
            if ident in self._by_id:
                raise ValueError(f"duplicate {resource} id {ident!r}")
            self._by_id[ident] = item
        # Ids win over names and aliases; among names, the first fact declared keeps the label.
        for item in self._items:
            for label in labels(item):
                self._by_label.setdefault(fold(label), item)
        for ident, item in self._by_id.items():
            self._by_label[fold(ident)] = item

    def get(self, ref: str, field: str | None = None) -> T:
        """The fact named ``ref`` (id, name or alias); raises UnknownChoice on the given field otherwise."""
        found = self._by_label.get(fold(ref))
        if found is None:
            raise UnknownChoice(field or self.resource, self.resource, ref, self._by_id)
        return found

    def find(self, ref: str) -> T | None:
        """Like ``get`` but returns None for an unknown reference."""
        return self._by_label.get(fold(ref))

    def public(self) -> list[T]:
        """Facts players may see (not marked ``secret``): what a generator should draw from for player output."""
        return [item for item in self._items if not getattr(item, "secret", False)]

    def ids(self) -> list[str]:
        """Ids in declaration order."""
        return list(self._by_id)

    def __contains__(self, ref: object) -> bool:
        return isinstance(ref, str) and fold(ref) in self._by_label

    def __iter__(self) -> Iterator[T]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Catalog({self.resource!r}, {len(self._items)} items)"
