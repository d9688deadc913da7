"""World lore: parse a folder of markdown documents with YAML front matter into chunks and typed facts.

Pure Python (no grpc, no database). Memory ingests ``World.chunks()``; the NPC, item, encounter and visual
services read the typed facts (``load_world(path).rank("Duke")``...). Lookups raise ``UnknownChoice`` (an
INVALID_ARGUMENT naming the caller's field and listing valid choices); a malformed world raises
``LoreFormatError`` naming the file and field.
"""

from lore.catalog import Catalog
from lore.chunking import DEFAULT_MAX_CHARS, Chunk, chunk_document, content_hash, normalize_text, split_text
from lore.documents import DOCUMENT_KINDS, LoreDocument, parse_document, parse_document_text
from lore.errors import LoreFormatError, UnknownChoice
from lore.facts import DAMAGE_TYPES, TERRAINS
from lore.money import Coinage
from lore.world import World, available_worlds, build_world, clear_world_cache, load_world, world_path

__all__ = [
    "DAMAGE_TYPES",
    "DEFAULT_MAX_CHARS",
    "DOCUMENT_KINDS",
    "TERRAINS",
    "Catalog",
    "Chunk",
    "Coinage",
    "LoreDocument",
    "LoreFormatError",
    "UnknownChoice",
    "World",
    "available_worlds",
    "build_world",
    "chunk_document",
    "clear_world_cache",
    "content_hash",
    "load_world",
    "normalize_text",
    "parse_document",
    "parse_document_text",
    "split_text",
    "world_path",
]
