#!/usr/bin/env bash
# Development: Llama 3.1 8B Instruct on one GPU.
exec vllm serve /models/llama-3.1-8b-instruct \
  --served-model-name llama-3.1-8b-instruct \
  --dtype bfloat16 \
  --max-model-len 16384 \
  --gpu-memory-utilization 0.90 \
  --enable-prefix-caching \
  --structured-outputs-config '{"backend":"guidance"}' \
  --host 0.0.0.0 --port 8000
