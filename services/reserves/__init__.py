"""Reserves service: tiered depots and stock; answers dispatch's reservations."""
