"""Dispatch service: open needs, a read model of stock and network, plans and orders."""
