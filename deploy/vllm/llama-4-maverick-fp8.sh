#!/usr/bin/env bash
# Llama 4 Maverick (17B active / 400B total MoE) FP8 on 8 x H100 80 GB (Hopper has native FP8).
exec vllm serve /models/llama-4-maverick-17b-128e-instruct-fp8 \
  --served-model-name llama-4-maverick \
  --tensor-parallel-size 8 \
  --max-model-len 32768 \
  --gpu-memory-utilization 0.92 \
  --enable-prefix-caching \
  --structured-outputs-config '{"backend":"guidance"}' \
  --host 0.0.0.0 --port 8000
