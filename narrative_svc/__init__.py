"""narrative_svc: the DM's voice. Streams narration, invents plot twists, and summarises sessions into memory."""
