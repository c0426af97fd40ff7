"""Hinterland's published event catalogue: wire schemas only (pydantic + stdlib)."""
