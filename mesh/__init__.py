"""Shared runtime of the Dungeon Master mesh: settings, errors, server bootstrap, channels, telemetry.

The package root imports nothing on purpose: domain modules import ``mesh.errors`` and must not pull grpc in
transitively. Import the submodule you need (``mesh.server``, ``mesh.channels``, ``mesh.settings``...).
"""
