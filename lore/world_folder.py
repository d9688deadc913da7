"""A world folder as memory ingests it: the world's identity from ``world.md`` and its documents in order."""

from __future__ import annotations

from pathlib import Path

from lore.documents import parse_document_text


def world_documents(folder: Path) -> tuple[dict[str, str], list[Path]]:
    """The world's identity (from ``world.md`` front matter) and its documents, in a stable order."""
    info = {"slug": folder.name, "name": folder.name, "description": ""}
    world_md = folder / "world.md"
    if world_md.is_file():
        doc = parse_document_text(world_md.read_text(encoding="utf-8"), "world.md")
        info["slug"] = str(doc.metadata.get("id") or folder.name)
        info["name"] = str(doc.metadata.get("name") or doc.title or info["slug"])
        info["description"] = str(doc.metadata.get("summary") or "")[:4000]
    return info, sorted(folder.rglob("*.md"))
