#!/usr/bin/env bash
# Llama 4 Scout (17B active / 109B total MoE) on ONE H100 80 GB with INT4 (W4A16) weights.
# The INT4 checkpoint (~55-60 GB) leaves ~12 GB of KV cache at 0.92 utilisation: keep the context short.
exec vllm serve /models/llama-4-scout-17b-16e-instruct-w4a16 \
  --served-model-name llama-4-scout \
  --max-model-len 8192 \
  --gpu-memory-utilization 0.92 \
  --max-num-seqs 64 \
  --enable-prefix-caching \
  --structured-outputs-config '{"backend":"guidance"}' \
  --host 0.0.0.0 --port 8000
