"""NPC and creature service: NPCs that fit the world's lore with stat blocks the CR calculator agrees with,
and SRD monsters reshaped by templates (undead, fey-touched, aberrant ...) and rebalanced to a target CR."""
