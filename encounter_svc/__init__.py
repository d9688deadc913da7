"""Encounter service: fair, rule-correct encounters for a party in a terrain.

Domain modules (``builder``, ``search``, ``bestiary``, ``hazards``, ``treasure``, ``social``, ``prose``) are
grpc-free; the servicer maps protos onto them.
"""
