"""Combat under the 5e rules, pure and deterministic under a seed.

A fight is a fold over events: :mod:`~rules.combat.engine` turns a declared action into events (each with
its dice), :func:`~rules.combat.events.fold` applies their patches to the state, so the live state is always
``fold(events)`` and a combat replayed from its seed and its declared actions rolls the same dice.
Modules: ``state`` (combatants, range bands), ``events`` (events, rolls, the fold), ``codec`` (byte-stable
JSON), ``dice``, ``conditions`` (their mechanical effects), ``spells`` (SRD damage and healing spells),
``monsters`` (stat-block actions), ``build`` (combatants from sheets and stat blocks), ``tactics``
(deterministic monster and autopilot choices), ``engine`` (turns, actions, victory and XP), ``errors``.
"""
