"""Which device, dtype and memory/speed options the pipeline runs with: probed facts in, a plan out.

``plan_for`` is pure (facts and settings in, decisions and their reasons out) so the policy is testable without
a GPU: an 11 GB GTX 1080 Ti (compute capability 6.1, no tensor cores, no Triton) gets fp16 for memory plus
attention and VAE slicing and no torch.compile; an H100 gets fp16, SDPA, channels_last, compile when asked, and
fixed-size batches; a CPU gets bfloat16 where it has native bf16 instructions, else float32.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mesh.errors import FailedPrecondition

DType = Literal["float16", "bfloat16", "float32"]
PadMode = Literal["auto", "always", "never"]
#: Triton (torch.compile's GPU backend) and tensor cores both start at Volta.
MIN_COMPILE_CAPABILITY = (7, 0)


@dataclass(frozen=True, slots=True)
class DeviceFacts:
    """What was found on the machine for the configured device."""

    kind: Literal["cpu", "cuda"]
    index: int = 0
    name: str = "cpu"
    total_memory_gib: float = 0.0
    capability: tuple[int, int] | None = None
    cpu_bf16: bool = False


@dataclass(frozen=True, slots=True)
class PlanOptions:
    """The settings that steer the plan (``visual_*`` fields)."""

    dtype: Literal["auto", "float16", "bfloat16", "float32"] = "auto"
    channels_last: bool = True
    compile: bool = False
    low_vram_gib: float = 12.0
    pad_batches: PadMode = "auto"
    max_batch: int = 4


@dataclass(frozen=True, slots=True)
class DevicePlan:
    """How the pipeline is placed and tuned; ``notes`` says why, for the start-up log and the benchmark."""

    device: str
    dtype: DType
    channels_last: bool
    compile: bool
    attention_slicing: bool
    vae_slicing: bool
    vae_tiling: bool
    batch_size: int | None
    notes: tuple[str, ...]
    pad_is_auto: bool = False
    """Padding was chosen by ``auto`` (a loaded SDXL model turns it off: compute-bound at 1024 px)."""

    @property
    def is_cuda(self) -> bool:
        return self.device.startswith("cuda")

    def numerics(self) -> str:
        """What besides the weights decides the pixels: part of every cache key."""
        batch = f"fixed{self.batch_size}" if self.batch_size else "var"
        return f"{self.device.split(':')[0]}/{self.dtype}/{batch}/{'tiled' if self.vae_tiling else 'whole'}"


def plan_for(facts: DeviceFacts, opts: PlanOptions) -> DevicePlan:
    """Decide dtype, attention and memory options and batch padding for a device."""
    notes: list[str] = []
    if facts.kind == "cpu":
        dtype: DType
        if opts.dtype != "auto":
            dtype = opts.dtype
        elif facts.cpu_bf16:
            dtype = "bfloat16"
            notes.append("bfloat16: the CPU has native bf16 (AVX512-BF16/AMX), ~3.5x faster than fp32 here")
        else:
            dtype = "float32"
            notes.append("float32: the CPU has no native bf16")
        if opts.compile:
            notes.append("torch.compile skipped: only used on CUDA")
        pad = opts.pad_batches == "always"
        return DevicePlan(
            device="cpu",
            dtype=dtype,
            channels_last=False,
            compile=False,
            attention_slicing=False,
            vae_slicing=False,
            vae_tiling=False,
            batch_size=opts.max_batch if pad else None,
            notes=(*notes, "SDPA attention"),
        )

    cap = facts.capability or (0, 0)
    tensor_cores = cap >= MIN_COMPILE_CAPABILITY
    dtype = "float16" if opts.dtype == "auto" else opts.dtype
    if dtype == "float16" and not tensor_cores:
        notes.append(
            f"float16 on compute capability {cap[0]}.{cap[1]} (no tensor cores): for memory, not speed"
        )
    low_vram = facts.total_memory_gib < opts.low_vram_gib
    if low_vram:
        notes.append(
            f"{facts.total_memory_gib:.1f} GiB < {opts.low_vram_gib:g} GiB: attention slicing, VAE slicing and tiling"
        )
    else:
        notes.append("SDPA attention")
    compile_ = opts.compile and tensor_cores
    if opts.compile and not tensor_cores:
        notes.append(
            f"torch.compile skipped: needs compute capability {MIN_COMPILE_CAPABILITY[0]}.0+ (Triton)"
        )
    if opts.pad_batches == "auto":
        pad = tensor_cores and not low_vram
    else:
        pad = opts.pad_batches == "always"
    if pad:
        notes.append(f"batches padded to {opts.max_batch}: images never depend on their batch-mates")
    return DevicePlan(
        device=f"cuda:{facts.index}",
        dtype=dtype,
        channels_last=opts.channels_last,
        compile=compile_,
        attention_slicing=low_vram,
        vae_slicing=low_vram,
        vae_tiling=low_vram,
        batch_size=opts.max_batch if pad else None,
        notes=tuple(notes),
        pad_is_auto=pad and opts.pad_batches == "auto",
    )


def probe(device: str) -> DeviceFacts:
    """Look at the machine: ``auto`` picks the first CUDA device when there is one, else the CPU."""
    import torch

    wanted = device.strip().lower() or "auto"
    if wanted == "auto":
        wanted = "cuda" if torch.cuda.is_available() else "cpu"
    if wanted == "cpu":
        cpu = getattr(torch, "cpu", None)
        bf16 = bool(
            cpu is not None
            and (
                getattr(cpu, "_is_avx512_bf16_supported", lambda: False)()
                or getattr(cpu, "_is_amx_tile_supported", lambda: False)()
            )
        )
        return DeviceFacts(kind="cpu", cpu_bf16=bf16)
    if not wanted.startswith("cuda"):
        raise FailedPrecondition(f"visual_device must be auto, cpu, cuda or cuda:N, got {device!r}")
    if not torch.cuda.is_available():
        raise FailedPrecondition(f"visual_device is {device!r} but torch sees no CUDA device")
    index = int(wanted.partition(":")[2] or torch.cuda.current_device())
    if index >= torch.cuda.device_count():
        raise FailedPrecondition(f"visual_device {device!r}: only {torch.cuda.device_count()} CUDA device(s)")
    props = torch.cuda.get_device_properties(index)
    return DeviceFacts(
        kind="cuda",
        index=index,
        name=str(props.name),
        total_memory_gib=props.total_memory / 2**30,
        capability=(int(props.major), int(props.minor)),
    )
