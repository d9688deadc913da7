"""Generated gRPC contracts (package dungeonmaster.v1)."""
