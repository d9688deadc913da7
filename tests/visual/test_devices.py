"""The device policy: what each kind of card or CPU gets, and why."""

from __future__ import annotations

import pytest

from mesh.errors import FailedPrecondition
from visual_svc.devices import DeviceFacts, PlanOptions, plan_for, probe

GTX_1080_TI = DeviceFacts("cuda", 0, "NVIDIA GeForce GTX 1080 Ti", 11.0, (6, 1))
H100 = DeviceFacts("cuda", 0, "NVIDIA H100 80GB HBM3", 79.1, (9, 0))
RTX_3060 = DeviceFacts("cuda", 1, "NVIDIA GeForce RTX 3060", 12.0, (8, 6))


def test_gtx_1080_ti_gets_fp16_for_memory_with_slicing_and_no_compile() -> None:
    plan = plan_for(GTX_1080_TI, PlanOptions(compile=True))
    assert plan.device == "cuda:0" and plan.dtype == "float16"
    assert plan.attention_slicing and plan.vae_slicing and plan.vae_tiling
    assert not plan.compile  # Triton needs compute capability 7.0
    assert plan.batch_size is None  # compute-bound card: padding a lone request to 4 would cost 4x
    notes = " ".join(plan.notes)
    assert "for memory, not speed" in notes and "torch.compile skipped" in notes


def test_h100_gets_fp16_sdpa_channels_last_compile_and_fixed_batches() -> None:
    plan = plan_for(H100, PlanOptions(compile=True, max_batch=4))
    assert (plan.dtype, plan.channels_last, plan.compile) == ("float16", True, True)
    assert not (plan.attention_slicing or plan.vae_slicing or plan.vae_tiling)
    assert plan.batch_size == 4 and plan.pad_is_auto
    assert plan.numerics() == "cuda/float16/fixed4/whole"
    assert "SDPA attention" in plan.notes


def test_compile_is_opt_in_and_options_override_auto() -> None:
    assert not plan_for(H100, PlanOptions()).compile
    plan = plan_for(RTX_3060, PlanOptions(dtype="float32", pad_batches="never", channels_last=False))
    assert (plan.device, plan.dtype, plan.batch_size, plan.channels_last) == (
        "cuda:1",
        "float32",
        None,
        False,
    )
    assert not plan.attention_slicing  # 12 GiB is not below the 12 GiB threshold
    forced = plan_for(GTX_1080_TI, PlanOptions(pad_batches="always", max_batch=2))
    assert forced.batch_size == 2 and not forced.pad_is_auto


def test_cpu_uses_bfloat16_only_with_native_support() -> None:
    assert plan_for(DeviceFacts("cpu", cpu_bf16=True), PlanOptions()).dtype == "bfloat16"
    plain = plan_for(DeviceFacts("cpu", cpu_bf16=False), PlanOptions(compile=True))
    assert plain.dtype == "float32" and not plain.compile and not plain.channels_last
    assert plain.batch_size is None and plain.numerics() == "cpu/float32/var/whole"


def test_probe_reads_this_machine() -> None:
    facts = probe("cpu")
    assert facts.kind == "cpu"
    import torch

    expected = bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    assert facts.cpu_bf16 == expected
    with pytest.raises(FailedPrecondition, match="auto, cpu, cuda"):
        probe("tpu")
    if not torch.cuda.is_available():
        assert probe("auto").kind == "cpu"
        with pytest.raises(FailedPrecondition, match="no CUDA device"):
            probe("cuda:0")
