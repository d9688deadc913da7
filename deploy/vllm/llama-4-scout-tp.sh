#!/usr/bin/env bash
# Llama 4 Scout BF16 over 4-8 H100 with tensor parallelism (TP must divide the attention heads: 4 or 8).
TP=${TP:-8}
exec vllm serve /models/llama-4-scout-17b-16e-instruct \
  --served-model-name llama-4-scout \
  --tensor-parallel-size "$TP" \
  --max-model-len 65536 \
  --gpu-memory-utilization 0.90 \
  --enable-prefix-caching \
  --structured-outputs-config '{"backend":"guidance"}' \
  --host 0.0.0.0 --port 8000
