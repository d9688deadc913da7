"""The gateway: one authenticated address that forwards every module RPC and plays whole turns by fanning out."""
