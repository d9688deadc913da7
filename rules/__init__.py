"""Pure 5e game rules: dice, challenge ratings, encounter math, the SRD bestiary and terrains, player character
sheets (``classes``, ``sheets``), checks and saves (``checks``), live hit points and rests (``live_state``), XP.

Nothing here does network or database I/O beyond reading the SRD data file, and nothing imports grpc:
services wrap these functions and only convert types.
"""
