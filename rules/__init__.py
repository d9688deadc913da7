"""Pure 5e game rules: dice, challenge ratings, encounter math, the SRD bestiary and terrains.

Nothing here does network or database I/O beyond reading the SRD data file, and nothing imports grpc:
services wrap these functions and only convert types.
"""
