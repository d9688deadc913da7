"""Item service: magic items whose mechanics respect their rarity and follow the world's magic system, and an
appraiser that rates any item's rarity from its mechanics with the same rules."""
