"""Regenerate the bundled demo scenario (tgstats_dagster/telegram/demo_scenario/).

Run after changing tgstats_dagster/telegram/synthetic.py, and keep the output: a test checks
that the bundled folder equals a fresh generation, so nobody edits it by hand.

    python scripts/make_demo_scenario.py
"""

from __future__ import annotations

import shutil
import sys

from scripts.synthetic import (
    DEMO_DAYS,
    DEMO_END,
    DEMO_END_DAY,
    write_scenario,
)
from tgstats_dagster.telegram.replay import DEMO_SCENARIO_DIR


def main() -> int:
    if DEMO_SCENARIO_DIR.exists():
        shutil.rmtree(DEMO_SCENARIO_DIR)
    write_scenario(DEMO_SCENARIO_DIR, end_day=DEMO_END_DAY, days=DEMO_DAYS, end=DEMO_END)
    files = [path for path in DEMO_SCENARIO_DIR.rglob("*") if path.is_file()]
    size = sum(path.stat().st_size for path in files)
    print(f"wrote {DEMO_SCENARIO_DIR}: {len(files)} files, {size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
