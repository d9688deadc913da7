"""Generated from protos/dungeonmaster/v1 by `make protos`; do not edit."""
