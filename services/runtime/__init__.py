"""Plumbing every service shares (bus, outbox, inbox, dead letters, database); no domain."""
