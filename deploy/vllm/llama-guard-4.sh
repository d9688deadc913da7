#!/usr/bin/env bash
# Moderation: Llama Guard 4 12B. Short classification prompts: a small context and many sequences.
exec vllm serve /models/llama-guard-4-12b \
  --served-model-name llama-guard-4 \
  --max-model-len 4096 \
  --gpu-memory-utilization 0.40 \
  --max-num-seqs 128 \
  --host 0.0.0.0 --port 8001
