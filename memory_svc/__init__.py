"""Memory service: campaign memory and world lore in SQL, a Milvus index derived from it, context retrieval."""
