"""Routing benchmark harness: classic VRPTW/PDPTW instances through the dispatch solver."""
