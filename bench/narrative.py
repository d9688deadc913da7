"""Benchmark: narration through narrative_svc versus the same request sent straight to vLLM.

One run measures, on the same vLLM server and the same prompts (same messages, seed and token limit, so the
model does the same work both ways):
  * time to first chunk (TTFC) and total time, one request at a time, direct and through narrative_svc,
    interleaved pair by pair so machine load affects both alike;
  * the same with 16 requests at once;
  * the continuity guard (bench/continuity.py): per-sentence check time, time added before the first chunk,
    and the rule-based guard's precision and recall on the labelled corpus (``--continuity-only``: just that);
  * narration of a campaign, where narrative_svc first retrieves context from memory_svc, with the retrieval
    itself timed separately (RetrieveContext called directly).
narrative_svc and memory_svc run as their own processes, as deployed. Target: narrative_svc adds under 10 ms
to TTFC at p50 (the median of per-pair differences).

    python bench/narrative.py                 # starts the tiny vLLM (builds .vllm-venv on first use)
    python bench/narrative.py --vllm-url http://127.0.0.1:8000/v1 --runs 50
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import grpc  # noqa: E402
import httpx  # noqa: E402

from bench import continuity  # noqa: E402
from dungeonmaster.v1 import memory_pb2, memory_pb2_grpc, narrative_pb2, narrative_pb2_grpc  # noqa: E402
from mesh.channels import wait_for_serving  # noqa: E402
from mesh.text import ContextItem, GenParams, build_prompt  # noqa: E402
from mesh.text.local_vllm import LocalVLLM, free_port  # noqa: E402
from mesh.text.vllm import VLLMBackend  # noqa: E402

ACTION = "I wade into the Brinefen and listen for the drowned bells"
LORE = "The Brinefen is a salt marsh where the drowned bells of Saint Oril still ring at low tide."
PINNED = "House Varrow rules the coast from the Gull Tower and owes the smugglers a blood debt."


def pct(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of ``values`` in ms, by nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))] * 1000


@contextmanager
def service(module: str, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A mesh service as its own process; always terminated."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", module], env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT
        )
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


async def direct(client: httpx.AsyncClient, url: str, body: dict[str, Any]) -> tuple[float, float, int]:
    """TTFC, total seconds and chunks for one streamed chat request sent straight to vLLM."""
    started = time.perf_counter()
    first = 0.0
    chunks = 0
    async with client.stream("POST", url + "/v1/chat/completions", json=body) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            event = json.loads(line[6:])
            for choice in event.get("choices") or []:
                if (choice.get("delta") or {}).get("content"):
                    chunks += 1
                    if not first:
                        first = time.perf_counter() - started
    return first, time.perf_counter() - started, chunks


async def via_service(
    stub: narrative_pb2_grpc.NarrativeServiceStub, request: narrative_pb2.NarrateRequest
) -> tuple[float, float, int]:
    """TTFC, total seconds and text chunks for one Narrate call."""
    started = time.perf_counter()
    first = 0.0
    chunks = 0
    async for message in stub.Narrate(request, timeout=120):
        if message.text:
            chunks += 1
            if not first:
                first = time.perf_counter() - started
    return first, time.perf_counter() - started, chunks


async def stage_totals(client: httpx.AsyncClient, port: int) -> dict[str, tuple[float, float]]:
    """(sum s, count) per stage of narrative_svc's ``dm_narrative_stage_seconds`` histogram."""
    text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
    totals: dict[str, list[float]] = {}
    for line in text.splitlines():
        for suffix, slot in (("_sum", 0), ("_count", 1)):
            prefix = f"dm_narrative_stage_seconds{suffix}{{"
            if line.startswith(prefix):
                stage = line.split('stage="', 1)[1].split('"', 1)[0]
                totals.setdefault(stage, [0.0, 0.0])[slot] = float(line.rsplit(" ", 1)[1])
    return {k: (v[0], v[1]) for k, v in totals.items()}


def stage_delta(
    before: dict[str, tuple[float, float]], after: dict[str, tuple[float, float]]
) -> dict[str, float]:
    """Mean ms per stage between two scrapes."""
    out = {}
    for stage, (total, count) in after.items():
        total0, count0 = before.get(stage, (0.0, 0.0))
        if count > count0:
            out[stage] = (total - total0) / (count - count0) * 1000
    return out


def summarize(name: str, rows: list[tuple[float, float, int]]) -> dict[str, float]:
    ttfc = [r[0] for r in rows]
    total = [r[1] for r in rows]
    return {
        "name": name,  # type: ignore[dict-item]
        "n": len(rows),
        "ttfc_p50_ms": pct(ttfc, 0.5),
        "ttfc_p95_ms": pct(ttfc, 0.95),
        "total_p50_ms": pct(total, 0.5),
        "total_p95_ms": pct(total, 0.95),
        "chunks_p50": statistics.median(r[2] for r in rows),
    }


async def run(args: argparse.Namespace, vllm_url: str, work: Path) -> dict[str, Any]:
    memory_port, narrative_port, metrics_port = free_port(), free_port(), free_port()
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("DM_")}
    base_env.update(
        {
            "DM_HOST": "127.0.0.1",
            "DM_TLS_MODE": "off",  # plaintext: the bench calls both services directly
            "DM_DATA_DIR": str(work / "data"),
            "DM_MEMORY_PORT": str(memory_port),
            "DM_NARRATIVE_PORT": str(narrative_port),
            "DM_MEMORY_METRICS_PORT": "0",
            "DM_NARRATIVE_METRICS_PORT": str(metrics_port),
            "DM_VLLM_URLS": vllm_url,
            "DM_MODERATION_BACKEND": "rules",
            "DM_LOG_LEVEL": "WARNING",
            "HF_HUB_OFFLINE": "1",
            "PYTHONPATH": str(ROOT),
        }
    )
    with (
        service("memory_svc", base_env, work / "memory.log"),
        service("narrative_svc", base_env, work / "narrative.log"),
    ):
        await wait_for_serving(f"127.0.0.1:{memory_port}", "dungeonmaster.v1.MemoryService", 120)
        await wait_for_serving(f"127.0.0.1:{narrative_port}", "dungeonmaster.v1.NarrativeService", 120)
        async with (
            grpc.aio.insecure_channel(f"127.0.0.1:{memory_port}") as mch,
            grpc.aio.insecure_channel(f"127.0.0.1:{narrative_port}") as nch,
            httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=64)) as client,
        ):
            memory = memory_pb2_grpc.MemoryServiceStub(mch)
            stub = narrative_pb2_grpc.NarrativeServiceStub(nch)
            world = (
                await memory.CreateWorld(memory_pb2.CreateWorldRequest(slug="bench", name="Bench"))
            ).world
            campaign = (
                await memory.CreateCampaign(memory_pb2.CreateCampaignRequest(world_id=world.id, name="B"))
            ).campaign
            for title, text, pinned in (("House Varrow", PINNED, True), ("The Brinefen", LORE, False)):
                await memory.CreateLoreEntry(
                    memory_pb2.CreateLoreEntryRequest(
                        world_id=world.id,
                        entry=memory_pb2.LoreEntry(category="lore", title=title, content=text, pinned=pinned),
                    )
                )

            # The exact messages narrative_svc sends for this request (same templates, same window trimming).
            model = VLLMBackend([vllm_url], load_poll_s=0)
            await model.start()
            piece = memory_pb2.ContextPiece(title="The Brinefen", text=LORE)
            item = ContextItem(LORE, title="The Brinefen", source="caller", priority=1)
            variables = {"action": ACTION, "actor": "Aria", "tone": "", "audience": "player"}
            prompt, max_tokens = build_prompt(model, "narrate", variables, (item,), args.max_tokens)
            await model.close()

            def body(seed: int) -> dict[str, Any]:
                return {
                    "model": model.model,
                    "messages": [{"role": m.role, "content": m.content} for m in prompt.messages],
                    "max_tokens": max_tokens,
                    "temperature": 0.8,
                    "top_p": GenParams().top_p,
                    "seed": seed,
                    "stream": True,
                    "stream_options": {"include_usage": True},
                }

            def narrate(seed: int, campaign_id: str = "") -> narrative_pb2.NarrateRequest:
                return narrative_pb2.NarrateRequest(
                    action=ACTION,
                    actor="Aria",
                    context=[] if campaign_id else [piece],
                    campaign_id=campaign_id,
                    max_tokens=args.max_tokens,
                    temperature=0.8,
                    seed=seed,
                )

            for seed in range(3):  # warm both paths
                await direct(client, vllm_url, body(seed + 1))
                await via_service(stub, narrate(seed + 1))

            stages_before = await stage_totals(client, metrics_port)
            single_direct, single_svc, diffs = [], [], []
            for i in range(args.runs):
                seed = 1000 + i
                a, b = (await direct(client, vllm_url, body(seed)), await via_service(stub, narrate(seed)))
                if i % 2:  # alternate the order so neither path always runs second
                    b, a = await via_service(stub, narrate(seed)), await direct(client, vllm_url, body(seed))
                single_direct.append(a)
                single_svc.append(b)
                diffs.append(b[0] - a[0])

            stages_single = stage_delta(stages_before, await stage_totals(client, metrics_port))
            conc_direct: list[tuple[float, float, int]] = []
            conc_svc: list[tuple[float, float, int]] = []
            walls: dict[str, list[float]] = {"direct": [], "service": []}
            for r in range(args.rounds):
                seeds = [5000 + 100 * r + i for i in range(args.concurrency)]
                started = time.perf_counter()
                conc_direct += await asyncio.gather(*(direct(client, vllm_url, body(s)) for s in seeds))
                walls["direct"].append(time.perf_counter() - started)
                started = time.perf_counter()
                conc_svc += await asyncio.gather(*(via_service(stub, narrate(s)) for s in seeds))
                walls["service"].append(time.perf_counter() - started)

            stages_before = await stage_totals(client, metrics_port)
            retrieval: list[float] = []
            with_memory: list[tuple[float, float, int]] = []
            for i in range(args.runs):
                started = time.perf_counter()
                await memory.RetrieveContext(
                    memory_pb2.RetrieveContextRequest(
                        campaign_id=campaign.id, query=ACTION, token_budget=1024
                    ),
                    timeout=60,
                )
                retrieval.append(time.perf_counter() - started)
                with_memory.append(await via_service(stub, narrate(9000 + i, campaign.id)))
            stages_campaign = stage_delta(stages_before, await stage_totals(client, metrics_port))

    rows = [
        summarize("single, direct vLLM", single_direct),
        summarize("single, narrative_svc", single_svc),
        summarize(f"{args.concurrency} concurrent, direct vLLM", conc_direct),
        summarize(f"{args.concurrency} concurrent, narrative_svc", conc_svc),
        summarize("single, narrative_svc with campaign retrieval", with_memory),
    ]
    return {
        "vllm_url": vllm_url,
        "max_tokens": max_tokens,
        "rows": rows,
        "ttfc_added_p50_ms": statistics.median(diffs) * 1000,
        "ttfc_added_p95_ms": pct(diffs, 0.95),
        "wall_16_direct_p50_ms": statistics.median(walls["direct"]) * 1000,
        "wall_16_service_p50_ms": statistics.median(walls["service"]) * 1000,
        "service_prepare_mean_ms": stages_single.get("prepare", 0.0),
        "service_first_chunk_handoff_mean_ms": stages_single.get("first_chunk_handoff", 0.0),
        "service_retrieval_mean_ms": stages_campaign.get("retrieval", 0.0),
        "retrieve_context_p50_ms": pct(retrieval, 0.5),
        "retrieve_context_p95_ms": pct(retrieval, 0.95),
    }


def report(result: dict[str, Any]) -> None:
    print(f"vLLM {result['vllm_url']}, {result['max_tokens']} tokens per narration")
    print(f"{'':48} {'TTFC p50':>9} {'p95':>8} {'total p50':>10} {'p95':>8} {'chunks':>7}")
    for row in result["rows"]:
        print(
            f"{row['name']:48} {row['ttfc_p50_ms']:8.1f}ms {row['ttfc_p95_ms']:7.1f}ms "
            f"{row['total_p50_ms']:9.1f}ms {row['total_p95_ms']:7.1f}ms {row['chunks_p50']:7.0f}"
        )
    print(
        f"TTFC added by narrative_svc (median of paired differences): {result['ttfc_added_p50_ms']:.1f} ms p50, "
        f"{result['ttfc_added_p95_ms']:.1f} ms p95 (target < 10 ms p50)"
    )
    print(
        f"16 at once, wall time p50: direct {result['wall_16_direct_p50_ms']:.0f} ms, "
        f"through narrative_svc {result['wall_16_service_p50_ms']:.0f} ms"
    )
    print(
        f"Inside narrative_svc (its own clock, mean per narration): {result['service_prepare_mean_ms']:.2f} ms "
        f"before asking the model (screening, prompt), {result['service_first_chunk_handoff_mean_ms']:.2f} ms "
        f"from the model's first text to the first message; retrieval {result['service_retrieval_mean_ms']:.1f} ms"
    )
    print(
        f"RetrieveContext (memory_svc) alone: {result['retrieve_context_p50_ms']:.1f} ms p50, "
        f"{result['retrieve_context_p95_ms']:.1f} ms p95"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--vllm-url", default="", help="an OpenAI-compatible vLLM base URL; default: start the tiny one"
    )
    parser.add_argument(
        "--runs", type=int, default=30, help="paired single requests (and campaign narrations)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds of concurrent requests")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--json", default="", help="also write the figures to this file")
    parser.add_argument(
        "--continuity-only", action="store_true", help="only the continuity guard's figures (no model needed)"
    )
    args = parser.parse_args()
    guard = continuity.measure()
    if args.continuity_only:
        continuity.report(guard)
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-narrative-") as tmp:
        server = None if args.vllm_url else LocalVLLM().start()
        try:
            url = args.vllm_url or server.base_url  # type: ignore[union-attr]
            result = asyncio.run(run(args, url.rstrip("/").removesuffix("/v1"), Path(tmp)))
        finally:
            if server is not None:
                server.stop()
    report(result)
    continuity.report(guard)
    result["continuity"] = guard
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
