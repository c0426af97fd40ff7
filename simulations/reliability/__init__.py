"""Proof under faults and load: a ledger checker, seeded fault runs, a load ramp.

``python -m simulations.reliability [--seeds N] [--events E] [--quick]`` prints one table;
``--seed S`` replays one fault run exactly (same events, same faults at the same points).
"""
