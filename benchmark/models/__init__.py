"""The uniform model surface and the two systems under study (COOLANT, NovEmoFake)."""
