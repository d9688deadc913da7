"""Image-generation benchmark: the real SD 1.5 architecture with random weights, run through visual_svc's renderer.

Timings do not depend on the weights' values, so the UNet (859.5M parameters), VAE (83.7M) and CLIP text
encoder (123.1M) are built from SD 1.5's configs with random weights; nothing is downloaded.

    python bench/visual.py --device cpu      # one CFG UNet step and one VAE decode at 512x512, fp32 vs bf16
    python bench/visual.py --device cuda     # 512x512, 20 steps, batch 1 and 4: fp16+SDPA, +channels_last,
                                             # +torch.compile; seconds per call and per image, median of N

On CUDA every setup renders through ``DiffusersRenderer.render`` (the service's own code: per-item CPU
generators, DPM-Solver++ 2M Karras, classifier-free guidance, per-image VAE decode) after warm-up runs; the
first-call column includes torch.compile's compilation. ``--budget-s`` skips what would not fit.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import string
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SD15_UNET: dict[str, Any] = {
    "sample_size": 64,
    "in_channels": 4,
    "out_channels": 4,
    "layers_per_block": 2,
    "block_out_channels": (320, 640, 1280, 1280),
    "down_block_types": (
        "CrossAttnDownBlock2D",
        "CrossAttnDownBlock2D",
        "CrossAttnDownBlock2D",
        "DownBlock2D",
    ),
    "up_block_types": ("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    "cross_attention_dim": 768,
    "attention_head_dim": 8,
    "norm_num_groups": 32,
}
SD15_VAE: dict[str, Any] = {
    "in_channels": 3,
    "out_channels": 3,
    "block_out_channels": (128, 256, 512, 512),
    "down_block_types": ("DownEncoderBlock2D",) * 4,
    "up_block_types": ("UpDecoderBlock2D",) * 4,
    "latent_channels": 4,
    "layers_per_block": 2,
    "sample_size": 512,
    "scaling_factor": 0.18215,
}
SD15_TEXT: dict[str, Any] = {
    "vocab_size": 49408,
    "hidden_size": 768,
    "intermediate_size": 3072,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "max_position_embeddings": 77,
    "hidden_act": "quick_gelu",
    "projection_dim": 768,
}
PROMPT = "portrait of an old fen priest with a lantern, muted painterly oil illustration"
NEGATIVE = "lowres, blurry, text, watermark"


#: distribution name (as in a wheel's file name) -> the module it provides
WHEEL_MODULES = {
    "diffusers": "diffusers",
    "pillow": "PIL",
    "requests": "requests",
    "urllib3": "urllib3",
    "idna": "idna",
    "certifi": "certifi",
    "charset_normalizer": "charset_normalizer",
    "importlib_metadata": "importlib_metadata",
    "zipp": "zipp",
}


def use_wheels(folder: Path) -> list[str]:
    """Make missing packages importable from carried wheels without pip: each wheel whose module is absent and
    whose tag fits this interpreter is unpacked into a temporary folder put first on sys.path."""
    import importlib.util
    import tempfile
    import zipfile

    here = f"cp{sys.version_info.major}{sys.version_info.minor}"
    target = Path(tempfile.mkdtemp(prefix="visual-bench-wheels-"))
    used = []
    for wheel in sorted(folder.glob("*.whl")):
        dist, _, rest = wheel.name.partition("-")
        module = WHEEL_MODULES.get(dist.lower())
        python_tag = rest.split("-")[1] if rest.count("-") >= 3 else ""
        if module is None or importlib.util.find_spec(module) is not None:
            continue
        if not (python_tag.startswith("py3") or here in python_tag.split(".")):
            continue
        with zipfile.ZipFile(wheel) as zf:
            zf.extractall(target)
        used.append(wheel.name)
    sys.path.insert(0, str(target))
    importlib.invalidate_caches()
    return used


def small_tokenizer() -> Any:
    """A letter-level CLIP BPE tokenizer built in memory (the real 49k vocabulary is not needed for timing:
    prompts are padded to 77 tokens either way)."""
    from transformers import CLIPTokenizer

    symbols = list(string.ascii_lowercase + string.digits + ",.;:!?'-()")
    vocab = {s: i for i, s in enumerate(symbols)}
    vocab.update({s + "</w>": len(symbols) + i for i, s in enumerate(symbols)})
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)


def build_sd15(device: str) -> Any:
    """SD 1.5's pipeline with random fp32 weights, initialised directly on ``device``."""
    import torch
    from diffusers import AutoencoderKL, PNDMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(0)
    tokenizer = small_tokenizer()
    bos, eos = tokenizer.convert_tokens_to_ids(["<|startoftext|>", "<|endoftext|>"])
    with torch.device(device):
        unet = UNet2DConditionModel(**SD15_UNET)
        vae = AutoencoderKL(**SD15_VAE)
        text = CLIPTextModel(
            CLIPTextConfig(**SD15_TEXT, bos_token_id=bos, eos_token_id=eos, pad_token_id=eos)
        )
    scheduler = PNDMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        num_train_timesteps=1000,
        skip_prk_steps=True,
        steps_offset=1,
        set_alpha_to_one=False,
    )
    return StableDiffusionPipeline(
        unet=unet,
        vae=vae,
        text_encoder=text,
        tokenizer=tokenizer,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def params_m(module: Any) -> float:
    return sum(p.numel() for p in module.parameters()) / 1e6


def rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def table(rows: list[dict[str, Any]], columns: list[tuple[str, str]]) -> str:
    def cell(v: Any) -> str:
        if v is None:
            return "-"
        return f"{v:.3f}" if isinstance(v, float) else str(v)

    head = "| " + " | ".join(title for _, title in columns) + " |"
    rule = "|" + "|".join("---" for _ in columns) + "|"
    body = ["| " + " | ".join(cell(r.get(key)) for key, _ in columns) + " |" for r in rows]
    return "\n".join([head, rule, *body])


# --- CPU ----------------------------------------------------------------------------------------------------


def timed(args: argparse.Namespace, fn: Any) -> tuple[float, float]:
    """Median wall seconds and median process CPU seconds of ``fn``. CPU time shows contention on a shared
    host: wall time well above CPU time / threads means other processes held the cores."""
    for _ in range(args.warmup):
        fn()
    walls, cpus = [], []
    for _ in range(args.repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def bench_cpu(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from visual_svc.devices import probe

    facts = probe("cpu")
    t0 = time.perf_counter()
    pipe = build_sd15("cpu")
    built_s = time.perf_counter() - t0
    sizes = {"unet": params_m(pipe.unet), "vae": params_m(pipe.vae), "text": params_m(pipe.text_encoder)}
    latent = args.size // 8
    t = torch.tensor(500)
    ids = pipe.tokenizer(
        [NEGATIVE, PROMPT], padding="max_length", max_length=77, return_tensors="pt"
    ).input_ids
    rows: list[dict[str, Any]] = []
    dtypes = ["float32", "bfloat16"] if args.dtype == "both" else [args.dtype]
    for name in dtypes:
        dtype = getattr(torch, name)
        pipe.to(dtype=dtype)
        x = torch.randn(2, 4, latent, latent, generator=torch.Generator().manual_seed(1)).to(dtype)
        z = torch.randn(1, 4, latent, latent, generator=torch.Generator().manual_seed(2)).to(dtype)
        with torch.inference_mode():
            emb = pipe.text_encoder(ids)[0]
            text = timed(args, lambda: pipe.text_encoder(ids))
            unet = timed(args, lambda x=x, emb=emb: pipe.unet(x, t, encoder_hidden_states=emb))
            vae = timed(args, lambda z=z: pipe.vae.decode(z / pipe.vae.config.scaling_factor))
        rows.append(
            {
                "dtype": name,
                "text_s": text[0],
                "unet_step_s": unet[0],
                "unet_step_cpu_s": unet[1],
                "vae_decode_s": vae[0],
                "vae_decode_cpu_s": vae[1],
                "est_image_s": text[0] + args.steps * unet[0] + vae[0],
                "peak_rss_gib": rss_gib(),
            }
        )
        print(
            f"  {name}: text {text[0]:.2f}s, UNet CFG step {unet[0]:.2f}s ({unet[1]:.1f} CPU-s), "
            f"VAE decode {vae[0]:.2f}s ({vae[1]:.1f} CPU-s)",
            flush=True,
        )
    if len(rows) == 2:
        ratio = {k: rows[0][k] / rows[1][k] for k in rows[0] if k.endswith("_s")}
        rows.append({"dtype": "fp32/bf16", **ratio})
    load = " ".join(f"{v:.1f}" for v in os.getloadavg())
    print()
    print(
        f"CPU: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
        f"native bf16: {facts.cpu_bf16}; torch {torch.__version__}; build {built_s:.1f}s; load average {load}"
    )
    print(
        f"SD 1.5 random weights: UNet {sizes['unet']:.1f}M, VAE {sizes['vae']:.1f}M, CLIP text {sizes['text']:.1f}M"
    )
    print(
        f"{args.size}x{args.size}, one classifier-free-guidance UNet step (batch 2) and one VAE decode; median of "
        f"{args.repeats} after {args.warmup} warm-up; est. image = text + {args.steps} steps + decode (wall)"
    )
    print(
        table(
            rows,
            [
                ("dtype", "dtype"),
                ("text_s", "CLIP text s"),
                ("unet_step_s", "UNet step s"),
                ("unet_step_cpu_s", "UNet step CPU-s"),
                ("vae_decode_s", "VAE decode s"),
                ("vae_decode_cpu_s", "VAE decode CPU-s"),
                ("est_image_s", f"est. {args.steps}-step image s"),
                ("peak_rss_gib", "peak RSS GiB"),
            ],
        )
    )
    return {"device": "cpu", "params_m": sizes, "load_average": os.getloadavg(), "rows": rows}


# --- CUDA ---------------------------------------------------------------------------------------------------


def bench_cuda(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from visual_svc.devices import PlanOptions, plan_for, probe
    from visual_svc.pipeline import BatchItem, DiffusersRenderer, tune_pipeline
    from visual_svc.spec import RenderParams

    # Compile each batch shape statically (as a service with padded, fixed-size batches runs it) instead of
    # letting a second shape turn the graph dynamic.
    torch._dynamo.config.automatic_dynamic_shapes = False
    started = time.perf_counter()
    facts = probe(args.device)
    device = f"cuda:{facts.index}"
    pipe = build_sd15(device)
    pipe.to(dtype=torch.float16)
    sizes = {"unet": params_m(pipe.unet), "vae": params_m(pipe.vae), "text": params_m(pipe.text_encoder)}
    print(f"built in {time.perf_counter() - started:.1f}s on {facts.name}", flush=True)
    params = RenderParams(args.size, args.size, args.steps, 7.5, "dpmpp-2m-karras")
    setups = [
        ("fp16+SDPA", PlanOptions(dtype="float16", channels_last=False, compile=False, pad_batches="never")),
        (
            "+channels_last",
            PlanOptions(dtype="float16", channels_last=True, compile=False, pad_batches="never"),
        ),
        (
            "+torch.compile",
            PlanOptions(dtype="float16", channels_last=True, compile=True, pad_batches="never"),
        ),
    ]
    if args.no_compile:
        setups = setups[:2]
    batches = [int(b) for b in args.batches.split(",")]
    rows: list[dict[str, Any]] = []
    for label, opts in setups:
        # Plans add up (SDPA, then channels_last, then compile on top), as tune_pipeline applies them in order.
        plan = plan_for(facts, opts)
        tune_pipeline(pipe, plan)
        renderer = DiffusersRenderer(pipe, plan, "sd15-random", "bench")
        for batch in batches:
            if time.perf_counter() - started > args.budget_s:
                rows.append({"setup": label, "batch": batch, "note": "skipped: over --budget-s"})
                print(f"{label} batch {batch}: skipped (budget)", flush=True)
                continue
            items = [BatchItem(PROMPT, NEGATIVE, 1000 + i) for i in range(batch)]

            def once(items: list[BatchItem] = items, renderer: DiffusersRenderer = renderer) -> float:
                torch.cuda.synchronize()
                start = time.perf_counter()
                renderer.render(params, items, lambda _s: None, lambda: False)
                torch.cuda.synchronize()
                return time.perf_counter() - start

            torch.cuda.reset_peak_memory_stats()
            first = once()
            for _ in range(max(0, args.warmup - 1)):
                once()
            runs = [once() for _ in range(args.repeats)]
            per_call = statistics.median(runs)
            row = {
                "setup": label,
                "batch": batch,
                "s_per_call": per_call,
                "s_per_image": per_call / batch,
                "it_per_s": args.steps / per_call,
                "first_call_s": first,
                "peak_gib": torch.cuda.max_memory_allocated() / 2**30,
            }
            rows.append(row)
            print(
                f"{label} batch {batch}: {per_call:.3f}s/call {per_call / batch:.3f}s/image (first {first:.1f}s)",
                flush=True,
            )
    cap = facts.capability or (0, 0)
    print()
    print(
        f"GPU: {facts.name} (compute {cap[0]}.{cap[1]}, {facts.total_memory_gib:.0f} GiB); torch {torch.__version__}, "
        f"CUDA {torch.version.cuda}; total {time.perf_counter() - started:.0f}s"
    )
    print(
        f"SD 1.5 random weights: UNet {sizes['unet']:.1f}M, VAE {sizes['vae']:.1f}M, CLIP text {sizes['text']:.1f}M"
    )
    print(
        f"{args.size}x{args.size}, {args.steps} steps, DPM-Solver++ 2M Karras, CFG 7.5, fp16; median of "
        f"{args.repeats} after {max(1, args.warmup)} warm-up (first call includes compilation)"
    )
    print(
        table(
            rows,
            [
                ("setup", "setup"),
                ("batch", "batch"),
                ("s_per_call", "s per call"),
                ("s_per_image", "s per image"),
                ("it_per_s", "steps/s"),
                ("first_call_s", "first call s"),
                ("peak_gib", "peak GiB"),
                ("note", "note"),
            ],
        )
    )
    return {"device": facts.name, "capability": list(cap), "params_m": sizes, "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    parser.add_argument("--size", type=int, default=512, help="image side in pixels (default 512)")
    parser.add_argument("--steps", type=int, default=20, help="denoising steps per image (default 20)")
    parser.add_argument("--batches", default="1,4", help="CUDA: batch sizes to time (default 1,4)")
    parser.add_argument(
        "--repeats", type=int, default=None, help="timed runs per cell (default: cuda 3, cpu 1)"
    )
    parser.add_argument(
        "--warmup", type=int, default=None, help="untimed runs first (default: cuda 1, cpu 0)"
    )
    parser.add_argument("--dtype", default="both", choices=["both", "float32", "bfloat16"], help="CPU dtypes")
    parser.add_argument("--no-compile", action="store_true", help="CUDA: skip the torch.compile setup")
    parser.add_argument(
        "--budget-s", type=float, default=420.0, help="CUDA: skip setups started after this (s)"
    )
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    parser.add_argument(
        "--wheels", type=Path, help="folder of carried wheels (scripts/gpu_wheels.sh) for missing packages"
    )
    args = parser.parse_args()
    cuda = args.device.startswith("cuda")
    args.repeats = args.repeats if args.repeats is not None else (3 if cuda else 1)
    args.warmup = args.warmup if args.warmup is not None else (1 if cuda else 0)
    if args.wheels:
        print(f"from {args.wheels}: {', '.join(use_wheels(args.wheels)) or 'nothing needed'}", flush=True)
    try:
        import diffusers
    except ImportError as exc:
        sys.exit(f"diffusers is not installed ({exc}); install the wheel from scripts/gpu_wheels.sh")
    print(f"diffusers {diffusers.__version__}, python {platform.python_version()}", flush=True)
    result = bench_cuda(args) if cuda else bench_cpu(args)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
