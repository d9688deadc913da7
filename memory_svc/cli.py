"""Command line: ingest a world folder, rebuild the vector index, render or apply the SQL migrations.

``python -m memory_svc ingest worlds/ashen-reach`` writes the lore to SQL (one transaction per document, a
progress bar per document), then embeds and indexes the queued chunks (a progress bar per chunk). When Milvus
cannot be opened here (e.g. Milvus Lite is held by a running memory service) the chunks stay queued in the
outbox and the service indexes them; the command says so and still succeeds, because SQL has the lore.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from tqdm import tqdm

from memory_svc.db import render_sql
from memory_svc.ingest import (
    IngestResult,
    SourceDocument,
    ensure_world_from_folder,
    ingest_documents,
    read_folder,
)
from memory_svc.memory import Memory
from memory_svc.reindex import reindex
from memory_svc.vector_store import VectorStoreUnavailable
from mesh.errors import DomainError
from mesh.settings import get_settings


def _ingest(args: argparse.Namespace) -> int:
    root = Path(args.folder)
    if not root.is_dir():
        print(f"error: {root} is not a folder", file=sys.stderr)
        return 2
    memory = Memory.from_settings(get_settings())
    try:
        memory.migrate()
        world = ensure_world_from_folder(memory.db, root)
        if args.world and args.world != world.slug:
            print(f"error: {root} describes world {world.slug!r}, not {args.world!r}", file=sys.stderr)
            return 2
        sources = list(read_folder(root))
        with tqdm(total=len(sources), desc="documents", unit="doc", file=sys.stderr) as bar:

            def step(source: SourceDocument, result: IngestResult) -> None:
                bar.set_postfix_str(source.path)
                bar.update(1)

            result = ingest_documents(
                memory.db,
                world.slug,
                sources,
                delete_missing=not args.keep_missing,
                max_document_bytes=memory.max_document_bytes,
                progress=step,
            )
        print(
            f"{world.slug}: {result.documents} documents, {result.chunks} chunks: {result.created} created, "
            f"{result.updated} updated, {result.unchanged} unchanged, {result.deleted} deleted",
            file=sys.stderr,
        )
        if args.no_index:
            print(f"{memory.outbox_pending()} index changes queued for the memory service", file=sys.stderr)
            return 0
        pending = memory.outbox_pending()
        try:
            with tqdm(total=pending, desc="embedding", unit="chunk", file=sys.stderr) as bar:
                memory.worker.drain(progress=bar.update)
        except VectorStoreUnavailable as exc:
            print(
                f"vector store unavailable ({exc}); {memory.outbox_pending()} index changes stay queued and the "
                "memory service will apply them",
                file=sys.stderr,
            )
            return 0
        print(
            f"indexed: {memory.worker.stats.upserted} vectors written, {memory.worker.stats.deleted} removed",
            file=sys.stderr,
        )
        return 0
    finally:
        memory.close()


def _reindex(args: argparse.Namespace) -> int:
    memory = Memory.from_settings(get_settings())
    try:
        memory.migrate()
        with tqdm(desc="vectors", unit="vec", file=sys.stderr) as bar:
            result = reindex(
                memory.db, memory.embedder, memory.vectors, args.world, args.campaign, bar.update
            )
        print(
            f"{result.vectors} vectors written to {', '.join(result.collections) or 'no collection'}",
            file=sys.stderr,
        )
        return 0
    finally:
        memory.close()


def _sql(args: argparse.Namespace) -> int:
    script = render_sql(args.url)
    if args.check:
        current = Path(args.check).read_text(encoding="utf-8") if Path(args.check).is_file() else ""
        if current != script:
            print(f"{args.check} is stale: run python -m memory_svc sql --out {args.check}", file=sys.stderr)
            return 1
        return 0
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(script, encoding="utf-8")
    else:
        sys.stdout.write(script)
    return 0


def _migrate(args: argparse.Namespace) -> int:
    memory = Memory.from_settings(get_settings())
    try:
        memory.migrate()
    finally:
        memory.close()
    return 0


def parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    p = argparse.ArgumentParser(prog="python -m memory_svc", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    ing = sub.add_parser("ingest", help="ingest a world folder (markdown + YAML front matter)")
    ing.add_argument("folder", help="world folder, e.g. worlds/ashen-reach")
    ing.add_argument("--world", default="", help="expected world slug (checked against world.md)")
    ing.add_argument("--keep-missing", action="store_true", help="do not soft-delete entries of absent files")
    ing.add_argument("--no-index", action="store_true", help="write SQL only; leave embedding to the service")
    ing.set_defaults(run=_ingest)
    rei = sub.add_parser("reindex", help="rebuild the vector index from SQL")
    rei.add_argument("--world", default="", help="world id or slug (default: every world and campaign)")
    rei.add_argument("--campaign", default="", help="campaign id")
    rei.set_defaults(run=_reindex)
    sql = sub.add_parser("sql", help="render the migrations as a SQL script (default: SQL Server T-SQL)")
    sql.add_argument("--url", default="mssql+pymssql://", help="SQLAlchemy URL naming the dialect")
    sql.add_argument("--out", default="", help="write to this file instead of stdout")
    sql.add_argument("--check", default="", help="exit 1 when this file differs from the rendering")
    sql.set_defaults(run=_sql)
    mig = sub.add_parser("migrate", help="apply pending migrations to DM_DATABASE_URL")
    mig.set_defaults(run=_migrate)
    return p


def main(argv: list[str]) -> int:
    """Run a command; domain errors print one line and exit 1."""
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.run(args))
    except DomainError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
