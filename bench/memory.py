"""Memory service benchmark: ingest throughput and RetrieveContext latency on synthetic lore of 10k and 100k chunks.

For each Milvus backend and each size it builds a fresh SQLite file and vector collections (a Milvus Lite
directory, or collections of their own on a server), generates synthetic world documents (one chunk per
section, 40-70 words each, mostly common English plus invented names, deterministic), and measures, in the
same run:

- raw embedding throughput: the model alone on texts like the ones the pipeline embeds, in short windows
  interleaved with the ingest groups so both rates see the same machine load (the machine is shared);
- ingest end to end: SQL ingest (parse, chunk, hash, versioned insert, outbox) + the outbox worker (cache
  lookups, embedding, Milvus upsert) + the final flush, in chunks/s, with the time split per layer; the
  target is >= 80% of the raw embedding throughput;
- RetrieveContext p50/p99 over distinct queries (query embedding included, no query cache hits) for a campaign
  with events and characters, with the median time per stage;
- RetrieveContext throughput with 32 calls in flight (32 threads calling the domain, as the servicer's worker
  threads do), with p50/p99 latency under that load;
- the same dense vector search one query per Milvus call versus all queries in one call, so the per-call cost
  of a backend is visible apart from the per-query cost (keyword search runs in SQL, timed as a stage);
- retrieval quality: the sample world (ingested next to the synthetic lore, real embeddings) asked the question
  set ``tests/memory/questions.yaml`` at the default turn budget: hit@1, hit@5 and MRR.

    .venv/bin/python bench/memory.py [--milvus lite,server] [--sizes 10000,100000] [--queries 100]
        [--concurrency 32] [--index AUTOINDEX] [--json] [--synthetic-vectors 100000]

``--milvus`` takes a comma-separated list of backends, measured one after the other on the same documents:
``lite`` (a Milvus Lite directory per size), ``server`` (the embedded Milvus 2.3 standalone server of
``mesh/milvus_server.py``, started under the run's temporary directory and stopped at the end; its start
times and resident memory are reported) or a URI (an existing server; collections get a prefix of the run's).

``--synthetic-vectors`` names sizes at which the document model is replaced by deterministic hash vectors
(the query model stays real): on a CPU where embedding 100k chunks takes hours it still measures everything
else at that size — SQL ingest, outbox, Milvus upsert and flush per chunk, and retrieval latency — and the
report then derives the end-to-end ingest rate from the measured per-chunk overhead plus the measured raw
model rate, labelled as derived. It is on by default for 100k (``--synthetic-vectors ""`` embeds every size for
real). The same derivation, labelled, applies when a size's real vectors come from the embedder's in-process
cache because an earlier backend in the run already embedded the same documents.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

from memory_svc import campaign_log, catalog, characters, question_set  # noqa: E402
from memory_svc.campaign_log import EventInput  # noqa: E402
from memory_svc.characters import CharacterInput, StateInput  # noqa: E402
from memory_svc.db import Database  # noqa: E402
from memory_svc.embeddings import Embedder  # noqa: E402
from memory_svc.ingest import SourceDocument, ensure_world_from_folder, ingest_documents, read_folder  # noqa: E402
from memory_svc.kinds import Audience, EventKind, VectorScope  # noqa: E402
from memory_svc.memory import Memory  # noqa: E402
from memory_svc.outbox import lore_embedding_text  # noqa: E402
from memory_svc.retrieval import RetrievalRequest  # noqa: E402
from memory_svc.vector_store import VectorStore  # noqa: E402
from mesh.milvus_server import EmbeddedMilvus  # noqa: E402
from mesh.settings import Settings  # noqa: E402

SECTIONS_PER_DOCUMENT = 50
INGEST_TARGET = 0.80
#: RetrieveContext targets with the real Milvus server at 100k chunks.
P50_TARGET_MS = 30.0
P99_TARGET_MS = 80.0
CONCURRENT_TARGET_PER_S = 150.0
SAMPLE_WORLD = ROOT / "worlds" / "ashen-reach"
QUESTIONS = ROOT / "tests" / "memory" / "questions.yaml"
SYLLABLES = (
    "ash bri fen cor van mal ith rax dun mar vey orr ath kel tor wyn sel gar hol lis ven emb spi".split()
)
COMMON = (
    "the of and a in to is was by from with under over beyond old ancient salt ash river marsh hill keep tower "
    "lord lady house crown temple priest coin silver copper market guild road bridge storm winter summer war "
    "peace oath secret cult flame ember stone bell tide reed village city duke baron knight witch spirit "
    "north south east west long short dark bright cold warm iron gold grey green red black white broken "
    "hidden sacred drowned burning forgotten first last great small high low wild quiet loud "
    "king queen prince heir mother father son daughter brother sister friend enemy stranger merchant "
    "soldier farmer fisher miner smith healer scholar thief sailor hunter monk nun bishop herald "
    "sword shield bow spear lantern book map key ring crown cloak boat cart horse wolf crow raven serpent "
    "dragon giant ghost shade wight troll goblin hag sprite bear boar stag hound "
    "sings guards sells rules hunts hides burns remembers betrays builds crosses watches waits"
).split()


def _vocabulary(rng: random.Random, size: int = 3000) -> list[str]:
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))))
    return sorted(words)


def synthetic_documents(chunks: int, seed: int = 7) -> tuple[list[SourceDocument], list[str]]:
    """Documents of SECTIONS_PER_DOCUMENT sections, one chunk each; returns them and the names used."""
    rng = random.Random(seed)
    vocab = _vocabulary(rng)
    names = [w.capitalize() for w in vocab[:800]]
    docs: list[SourceDocument] = []
    made = 0
    d = 0
    while made < chunks:
        count = min(SECTIONS_PER_DOCUMENT, chunks - made)
        lines = [
            f"---\nkind: lore\ntags: [synthetic]\nkeywords: [{rng.choice(names)}, {rng.choice(names)}]\n---"
        ]
        lines.append(f"# Chronicle {d}\n")
        for s in range(count):
            name = rng.choice(names)
            secret = " [DM only]" if rng.random() < 0.1 else ""
            words = [
                rng.choice(COMMON) if rng.random() < 0.6 else rng.choice(vocab)
                for _ in range(rng.randint(40, 70))
            ]
            words[rng.randrange(len(words))] = name
            lines.append(f"## {name} {d}-{s}{secret}\n\n{' '.join(words).capitalize()}.\n")
        docs.append(SourceDocument(f"chronicle-{d:05d}.md", "\n".join(lines)))
        made += count
        d += 1
    return docs, names


class _HashModel:
    """Stands in for the document model: unit vectors seeded by each text's hash (no model work)."""

    def __init__(self, dim: int) -> None:
        self.dim = dim

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
            v = np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)
            out[i] = v / np.linalg.norm(v)
        return out


class SyntheticDocEmbedder(Embedder):
    """An embedder whose document side is ``_HashModel``; queries still go through the real model."""

    def __init__(self, real: Embedder) -> None:
        super().__init__(real.model_path, dtype=real.dtype, batch_size=real.batch_size)
        self._query_model = real._model("query")
        self._doc_model = _HashModel(real.dim)  # type: ignore[assignment]
        self._real_doc_model = real._model("doc")

    def use_real_documents(self) -> None:
        """From now on documents go through the real model (the sample world the question set asks about)."""
        self._doc_model = self._real_doc_model


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MB (Linux ``/proc``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def wait_indexed(vectors: VectorStore, scope: VectorScope, timeout_s: float = 300.0) -> float:
    """On a server, wait until the index covers every row (searches then use it); returns the seconds waited."""
    if vectors.lite:
        return 0.0
    name = vectors._name(scope)
    t = time.perf_counter()
    while time.perf_counter() - t < timeout_s:
        info = vectors._call("describe_index", name, "vec")
        if not isinstance(info, dict) or "pending_index_rows" not in info:
            break
        if int(info["pending_index_rows"]) == 0 and int(info.get("indexed_rows", 0)) >= int(
            info.get("total_rows", 0)
        ):
            break
        time.sleep(0.5)
    return time.perf_counter() - t


def _ms(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "p50": 1000 * statistics.median(ordered),
        "p99": 1000 * ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))],
        "mean": 1000 * statistics.fmean(ordered),
    }


def bench_size(
    size: int, backend: str, uri: str, args: argparse.Namespace, real: Embedder, workdir: Path
) -> dict[str, Any]:
    synthetic = size in args.synthetic_vectors
    embedder: Embedder = SyntheticDocEmbedder(real) if synthetic else real
    # Every backend asks the same queries: none may find them in the query cache an earlier one filled.
    real._query_cache.clear()
    base = workdir / f"run{len(list(workdir.glob('run*')))}-n{size}"
    base.mkdir(parents=True)
    db = Database(f"sqlite:///{base / 'dm.db'}")
    if uri:
        vectors = VectorStore(
            uri, embedder.dim, index_type=args.index, prefix=f"bench{args.run_id}{base.name.replace('-', '')}"
        )
    else:
        vectors = VectorStore(str(base / "milvus.db"), embedder.dim, index_type=args.index)
    # The outbox worker seals segments every few thousand rows; on a server a flush takes a while, so it is
    # timed apart from the worker's SQL and cache work.
    flush_seconds = [0.0]
    plain_flush = vectors.flush

    def timed_flush(scope: VectorScope, scope_id: int) -> None:
        t = time.perf_counter()
        plain_flush(scope, scope_id)
        flush_seconds[0] += time.perf_counter() - t

    vectors.flush = timed_flush  # type: ignore[method-assign]
    memory = Memory(db, embedder, vectors, outbox_batch_size=args.batch)
    memory.migrate()
    docs, names = synthetic_documents(size, seed=size)
    world, _ = catalog.create_world(db, "synthetic", "Synthetic")
    out: dict[str, Any] = {
        "backend": backend,
        "chunks": size,
        "documents": len(docs),
        "index": vectors.index_type,
        "document_model": "hash vectors (model skipped)" if synthetic else "real",
    }
    embedded_before = embedder.documents_embedded

    # Raw model throughput on the texts the pipeline will embed (title + content, as the worker builds them).
    sample_docs, _ = synthetic_documents(args.raw_sample, seed=99)
    sample = []
    for doc in sample_docs:
        body = doc.content.split("---", 2)[2]
        for section in body.split("\n## ")[1:]:
            title, _, text = section.partition("\n\n")
            sample.append(lore_embedding_text(f"Chronicle > {title}", text.strip()))
    real.encode_raw(sample[:64])  # warm-up

    def raw_window(texts: list[str]) -> tuple[int, float]:
        t = time.perf_counter()
        real.encode_raw(texts)
        return len(texts), time.perf_counter() - t

    # Ingest end to end, in groups of documents. The machine is shared and its load drifts, so a raw-model
    # window runs right before each group and the two rates are compared over the same stretch of time.
    model_before, vector_before = embedder.model_seconds, memory.worker.stats.vector_seconds
    raw_texts = raw_time = 0.0
    split = {"sql_ingest": 0.0, "worker": 0.0, "milvus_flush_index": 0.0}
    created = 0
    group = max(1, args.group_chunks // SECTIONS_PER_DOCUMENT)
    for start in range(0, len(docs), group):
        if not synthetic:
            n, seconds = raw_window(sample[: args.raw_window])
            raw_texts += n
            raw_time += seconds
        t0 = time.perf_counter()
        created += ingest_documents(db, world.slug, docs[start : start + group]).created
        t1 = time.perf_counter()
        memory.worker.drain()
        t2 = time.perf_counter()
        split["sql_ingest"] += t1 - t0
        split["worker"] += t2 - t1
    t2 = time.perf_counter()
    worker_flush_s = flush_seconds[0]
    vectors.flush(VectorScope.LORE, world.id)
    split["milvus_flush_index"] = time.perf_counter() - t2
    if synthetic:
        n, seconds = raw_window(sample)
        raw_texts, raw_time = n, seconds
    assert created == size, created
    out["index_wait_s"] = wait_indexed(vectors, VectorScope.LORE)
    assert vectors.count(VectorScope.LORE, world.id) == size
    total = sum(split.values())
    model_s = embedder.model_seconds - model_before
    milvus_s = memory.worker.stats.vector_seconds - vector_before
    embedded = embedder.documents_embedded - embedded_before
    # Vectors that came from the in-process cache (an earlier backend embedded the same texts): no model time
    # was spent on them, so the end-to-end rate is derived like the hash-vector one.
    derive = synthetic or embedded < size
    if not synthetic:
        out["document_model"] = (
            "real" if embedded >= size else f"real, {size - embedded:,} vectors from the in-process cache"
        )
    out["documents_embedded"] = 0 if synthetic else embedded
    out["raw_embed_per_s"] = raw_texts / raw_time
    out["model_share_of_ingest"] = model_s / total
    overhead_per_chunk = (total - model_s) / size
    derived = 1.0 / (1.0 / out["raw_embed_per_s"] + overhead_per_chunk)
    out.update(
        ingest_per_s=derived if derive else size / total,
        ingest_derived=derive,
        ingest_without_model_per_s=size / (total - model_s),
        ingest_vs_raw=(derived if derive else size / total) / out["raw_embed_per_s"],
        ingest_split_s={
            "sql_ingest": split["sql_ingest"],
            "embedding_model": model_s,
            "milvus_upsert": milvus_s,
            "milvus_flush_in_worker": worker_flush_s,
            "worker_sql_and_cache": split["worker"] - model_s - milvus_s - worker_flush_s,
            "milvus_flush_index": split["milvus_flush_index"],
            "total": total,
        },
    )

    # A campaign with history, so retrieval does all its work (states, recent events, campaign hits).
    campaign = catalog.create_campaign(db, world.slug, "Bench campaign")
    rng = random.Random(5)
    heroes = []
    for name in ("Mira", "Oskar"):
        hero = characters.create_character(
            db,
            str(campaign.id),
            CharacterInput(name=name, character_class="ranger", level=5),
            StateInput(30, 30),
        )
        heroes.append(str(hero.id))
    for i in range(200):
        text = f"{rng.choice(['Mira', 'Oskar'])} meets {rng.choice(names)} near the {rng.choice(COMMON)} {rng.choice(COMMON)}."
        campaign_log.record_event(
            db, str(campaign.id), EventInput(kind=EventKind.PLAYER_ACTION, content=text), f"e{i}"
        )
    memory.worker.drain()

    queries = [
        f"What do we know about {rng.choice(names)} and the {rng.choice(COMMON)} of {rng.choice(names)}? ({i})"
        for i in range(args.queries)
    ]
    memory.retriever.retrieve(RetrievalRequest(query="warm up", campaign_id=str(campaign.id)))
    latencies: list[float] = []
    stages: dict[str, list[float]] = {}
    for query in queries:
        request = RetrievalRequest(
            query=query,
            campaign_id=str(campaign.id),
            character_ids=tuple(heroes),
            token_budget=2048,
            top_k=8,
            audience=Audience.PLAYER,
        )
        t = time.perf_counter()
        ctx = memory.retriever.retrieve(request)
        latencies.append(time.perf_counter() - t)
        assert not ctx.degraded and (ctx.lore or ctx.pinned)
        for stage, seconds in ctx.timings.items():
            stages.setdefault(stage, []).append(seconds)
    out["retrieve_ms"] = _ms(latencies)
    out["retrieve_stage_p50_ms"] = {k: 1000 * statistics.median(v) for k, v in stages.items()}
    out["retrieve_stage_p99_ms"] = {
        k: 1000 * sorted(v)[min(len(v) - 1, round(0.99 * (len(v) - 1)))] for k, v in stages.items()
    }

    # Concurrent load: ``concurrency`` threads, each with its own distinct queries (no query cache hits).
    n_conc = args.concurrency * args.concurrent_rounds
    conc_queries = [
        f"Where is {rng.choice(names)} said to {rng.choice(COMMON)} the {rng.choice(COMMON)}? [{i}]"
        for i in range(n_conc)
    ]
    conc_latencies: list[float] = []

    def one(query: str) -> None:
        t = time.perf_counter()
        ctx = memory.retriever.retrieve(
            RetrievalRequest(
                query=query,
                campaign_id=str(campaign.id),
                character_ids=tuple(heroes),
                token_budget=2048,
                top_k=8,
                audience=Audience.PLAYER,
            )
        )
        conc_latencies.append(time.perf_counter() - t)
        assert not ctx.degraded

    with concurrent.futures.ThreadPoolExecutor(args.concurrency) as pool:
        t = time.perf_counter()
        list(pool.map(one, conc_queries))
        wall = time.perf_counter() - t
    out["concurrent"] = {
        "in_flight": args.concurrency,
        "calls": n_conc,
        "per_s": n_conc / wall,
        "latency_ms": _ms(conc_latencies),
    }

    # Vector search alone: one Milvus call per query versus one call for all queries.
    qvec = np.stack([embedder.embed_query(q) for q in queries])
    per_call: dict[str, Any] = {}
    for label, single, batched in (
        (
            "dense",
            lambda i: vectors.dense_search(VectorScope.LORE, world.id, qvec[i : i + 1], 8, 1),
            lambda: vectors.dense_search(VectorScope.LORE, world.id, qvec, 8, 1),
        ),
    ):
        times = []
        for i in range(len(queries)):
            t = time.perf_counter()
            single(i)
            times.append(time.perf_counter() - t)
        t = time.perf_counter()
        batched()
        batch_total = time.perf_counter() - t
        per_call[label] = {
            "one_per_call_ms": _ms(times),
            "batched_ms_per_query": 1000 * batch_total / len(queries),
        }
    singles = []
    for q in queries[:20]:
        t = time.perf_counter()
        embedder._model("query").encode([q], 1)
        singles.append(time.perf_counter() - t)
    per_call["query_embedding_ms"] = 1000 * statistics.median(singles)
    out["search"] = per_call

    # Quality: the sample world next to the synthetic lore (same collection, another tenant), real vectors.
    if isinstance(embedder, SyntheticDocEmbedder):
        embedder.use_real_documents()
    qs = question_set.load(QUESTIONS)
    sample_world = ensure_world_from_folder(db, SAMPLE_WORLD)
    ingest_documents(db, sample_world.slug, read_folder(SAMPLE_WORLD), delete_missing=True)
    memory.worker.drain()
    vectors.flush(VectorScope.LORE, sample_world.id)
    wait_indexed(vectors, VectorScope.LORE)
    budget = Settings().narrative_context_budget
    scores = question_set.score(
        qs.questions,
        lambda q: memory.retriever.retrieve(
            RetrievalRequest(
                query=q.text, world_id=sample_world.slug, token_budget=budget, audience=q.audience
            )
        ),
    )
    out["questions"] = {
        "count": len(qs.questions),
        "budget": budget,
        "hit_at_1": scores.hit_at_1,
        "hit_at_5": scores.hit_at_5,
        "mrr": scores.mrr,
        "leaks": scores.leaks,
    }
    if args.server_pid:
        out["server_rss_mb"] = rss_mb(args.server_pid)
    if uri:  # a shared server keeps nothing of the run
        for scope in (VectorScope.LORE, VectorScope.EVENTS):
            vectors.drop_collection(vectors._name(scope))
    memory.close()
    return out


STAGES = {
    "sql_scope": "SQL scope+pinned",
    "embed": "embed query",
    "vector": "Milvus search",
    "sql_keyword": "keyword SQL",
    "sql_join": "SQL join+fusion",
    "pack": "packing",
}


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def report(results: list[dict[str, Any]]) -> None:
    for r in results:
        n = r["chunks"]
        split = r["ingest_split_s"]
        print(
            f"\n== {r['backend']}: {n:,} chunks ({r['documents']} documents, index {r['index']}, "
            f"doc model {r['document_model']})"
        )
        print(
            f"raw embedding          {r['raw_embed_per_s']:8.1f} chunks/s (model only, interleaved windows)"
        )
        ok = "ok" if r["ingest_vs_raw"] >= INGEST_TARGET else "MISSED"
        how = "derived: raw model rate + measured per-chunk overhead" if r["ingest_derived"] else "measured"
        print(
            f"ingest end to end      {r['ingest_per_s']:8.1f} chunks/s = {100 * r['ingest_vs_raw']:.0f}% of raw "
            f"(target >= {100 * INGEST_TARGET:.0f}%: {ok}; {how}; {r['documents_embedded']:,} chunks embedded "
            "by the real model in this ingest)"
        )
        print(
            f"ingest without model   {r['ingest_without_model_per_s']:8.1f} chunks/s (SQL + outbox + Milvus)"
        )
        print("  split (s): " + ", ".join(f"{k} {v:.1f}" for k, v in split.items()))
        if r["index_wait_s"]:
            print(f"  then waited {r['index_wait_s']:.1f} s for the server to finish indexing")
        ms = r["retrieve_ms"]
        print(
            f"RetrieveContext        p50 {ms['p50']:7.1f} ms  p99 {ms['p99']:7.1f} ms  "
            f"(targets p50 <= {P50_TARGET_MS:.0f}: {_met(ms['p50'] <= P50_TARGET_MS)}, "
            f"p99 <= {P99_TARGET_MS:.0f}: {_met(ms['p99'] <= P99_TARGET_MS)}; they apply to the server at 100k)"
        )
        for label, key in (("p50", "retrieve_stage_p50_ms"), ("p99", "retrieve_stage_p99_ms")):
            print(
                f"  stage {label} (ms): "
                + ", ".join(f"{STAGES.get(k, k)} {v:.1f}" for k, v in r[key].items())
            )
        c = r["concurrent"]
        print(
            f"{c['in_flight']} in flight           {c['per_s']:7.1f} retrievals/s over {c['calls']} calls, "
            f"p50 {c['latency_ms']['p50']:.0f} ms, p99 {c['latency_ms']['p99']:.0f} ms "
            f"(target >= {CONCURRENT_TARGET_PER_S:.0f}/s: {_met(c['per_s'] >= CONCURRENT_TARGET_PER_S)})"
        )
        s = r["search"]
        print(f"query embedding alone  {s['query_embedding_ms']:7.1f} ms")
        one = s["dense"]["one_per_call_ms"]
        print(
            f"dense search           one per call p50 {one['p50']:7.1f} ms;"
            f" batched {s['dense']['batched_ms_per_query']:6.1f} ms per query"
        )
        q = r["questions"]
        print(
            f"question set           {q['count']} questions at {q['budget']} tokens: hit@1 {q['hit_at_1']:.2f}, "
            f"hit@5 {q['hit_at_5']:.2f}, MRR {q['mrr']:.3f}, DM-only pieces given to players {q['leaks']}"
        )
        if "server_rss_mb" in r:
            print(f"server resident memory {r['server_rss_mb']:7.0f} MB after this size")


def start_server(workdir: Path) -> tuple[EmbeddedMilvus, dict[str, float]]:
    """Start the embedded server under the run's directory (a fresh one: the binary is unpacked too)."""
    server = EmbeddedMilvus(workdir / "milvus-server")
    t = time.perf_counter()
    server.start()
    started = time.perf_counter() - t
    time.sleep(2.0)
    idle = rss_mb(server.pid) if server.pid else 0.0
    print(
        f"embedded Milvus server at {server.uri}: started in {started:.1f} s (fresh directory, binary unpacked), "
        f"{idle:.0f} MB resident idle"
    )
    return server, {"start_s": started, "idle_rss_mb": idle}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated chunk counts")
    parser.add_argument("--queries", type=int, default=100, help="distinct RetrieveContext queries per size")
    parser.add_argument("--concurrency", type=int, default=32, help="RetrieveContext calls in flight")
    parser.add_argument(
        "--concurrent-rounds", type=int, default=4, help="calls per thread in the concurrent measurement"
    )
    parser.add_argument(
        "--raw-sample", type=int, default=1000, help="chunks embedded to measure raw throughput"
    )
    parser.add_argument(
        "--raw-window", type=int, default=128, help="texts per raw window between ingest groups"
    )
    parser.add_argument("--group-chunks", type=int, default=1000, help="chunks ingested per group")
    parser.add_argument("--index", default="AUTOINDEX", help="Milvus index type for the embedding field")
    parser.add_argument("--batch", type=int, default=256, help="outbox batch size")
    parser.add_argument(
        "--milvus",
        default="lite",
        help="comma-separated backends: lite (Milvus Lite per size), server (an embedded Milvus 2.3 server "
        "started for the run) or a URI (an existing server)",
    )
    parser.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float32"])
    parser.add_argument("--json", action="store_true", help="print the results as JSON as well")
    parser.add_argument(
        "--synthetic-vectors",
        default="100000",
        help="comma-separated sizes at which documents get hash vectors ('' = real model everywhere)",
    )
    args = parser.parse_args()
    args.synthetic_vectors = {int(s) for s in args.synthetic_vectors.split(",") if s}
    args.run_id = f"{os.getpid()}"
    args.server_pid = 0
    backends = [b.strip() for b in args.milvus.split(",") if b.strip()]
    sizes = [int(s) for s in args.sizes.split(",") if s]
    print(
        f"machine: {os.cpu_count()} CPUs; backends {', '.join(backends)}; sizes {', '.join(f'{n:,}' for n in sizes)}; "
        f"hash document vectors at {sorted(args.synthetic_vectors) or 'no size'}"
    )
    embedder = Embedder(dtype=args.dtype)
    results: list[dict[str, Any]] = []
    server_info: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        server = None
        try:
            if "server" in backends:
                server, server_info = start_server(Path(tmp))
            for size in sizes:
                for backend in backends:
                    on_server = backend == "server" and server is not None
                    uri = "" if backend == "lite" else server.uri if server and on_server else backend
                    args.server_pid = (server.pid or 0) if server and on_server else 0
                    results.append(bench_size(size, backend, uri, args, embedder, Path(tmp)))
                    report(results[-1:])
                    sys.stdout.flush()
        finally:
            if server is not None:
                server.stop()
    summary(results)
    if args.json:
        print(json.dumps({"server": server_info, "results": results}, indent=2))
    return 0


def summary(results: list[dict[str, Any]]) -> None:
    """One line per backend and size, side by side."""
    print(
        f"\n{'backend':>10} {'chunks':>8} {'ingest/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'Milvus p50':>10} "
        f"{'32 in flight/s':>14} {'hit@1':>6} {'hit@5':>6} {'MRR':>6}"
    )
    for r in results:
        q = r["questions"]
        print(
            f"{r['backend'][:10]:>10} {r['chunks']:>8,} {r['ingest_per_s']:9.1f} {r['retrieve_ms']['p50']:7.1f} "
            f"{r['retrieve_ms']['p99']:7.1f} {r['retrieve_stage_p50_ms'].get('vector', 0.0):10.1f} "
            f"{r['concurrent']['per_s']:14.1f} {q['hit_at_1']:6.2f} {q['hit_at_5']:6.2f} {q['mrr']:6.3f}"
        )


if __name__ == "__main__":
    sys.exit(main())
