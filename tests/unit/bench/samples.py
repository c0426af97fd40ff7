"""Tiny hand-written instance files in both formats, shared by the bench tests."""

from pathlib import Path

from services.bench.instances import Instance

VRPLIB_TEXT = """NAME : TINY
TYPE : CVRPTW
DIMENSION : 4
VEHICLES : 2
CAPACITY : 10
SERVICE_TIME : 5
EDGE_WEIGHT_TYPE : EUC_2D
NODE_COORD_SECTION
1 0 0
2 3 4
3 -3 4
4 0 -6
DEMAND_SECTION
1 0
2 4
3 5
4 6
TIME_WINDOW_SECTION
1 0 100
2 0 50
3 10 60
4 0 90
DEPOT_SECTION
1
-1
EOF
"""

LILIM_TEXT = """2\t10\t1
0\t0\t0\t0\t0\t200\t0\t0\t0
1\t3\t4\t4\t0\t100\t2\t0\t2
2\t6\t8\t-4\t0\t150\t2\t1\t0
3\t-3\t4\t-5\t0\t150\t2\t4\t0
4\t0\t-6\t5\t0\t100\t2\t0\t3
"""

# Customer 2 is 10 away from the depot but due at 5: no solver can serve every customer.
UNREACHABLE = Instance(
    name="unreachable",
    path=Path("unreachable.vrp"),
    coords=((0, 0), (3, 4), (0, 10)),
    demands=(0, 1, 1),
    windows=((0, 100), (0, 50), (0, 5)),
    service=(0, 1, 1),
    fleet_size=2,
    capacity=10,
)
