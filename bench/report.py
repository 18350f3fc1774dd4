"""Drawing the reports of many channels from the warehouse.

Usage: python bench/report.py [--channels N] [--days D]. The database is
TGSTATS_DATABASE_URL's server, else an embedded PostgreSQL in a temporary TGSTATS_HOME; the
run works in a scratch database it creates and drops. Each channel gets synthetic rows for
every chart (D days of 17 daily metrics, a top-hours graph, three days of hourly history, 14
posts with their timelines, public forwards, revenue balances), as the report's tests build
them. Prints per-channel figures, then last the line ``reports_200_s=S report_bytes=B
overview_bytes=O`` (S: seconds to read and draw the N channels' reports, scaled to 200 when N
differs; B, O: the size of one channel's page and overview SVG).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the test helpers are not installed, only the package
    sys.path.insert(0, str(ROOT))

from tgstats_dagster.report import draw_report  # noqa: E402
from tgstats_dagster.warehouse import migrations  # noqa: E402
from tgstats_dagster.warehouse.database import make_engine  # noqa: E402
from tgstats_dagster.warehouse.server import embedded_server_url, stop_embedded_server  # noqa: E402
from tgstats_dagster_tests.databases import scratch_database  # noqa: E402
from tgstats_dagster_tests.report import rows  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, default=200)
    parser.add_argument("--days", type=int, default=365)
    args = parser.parse_args()
    admin_url = os.environ.get("TGSTATS_DATABASE_URL", "").strip()
    home = None
    if not admin_url:
        home = Path(tempfile.mkdtemp(prefix="tgstats-bench-report-"))
        home.chmod(0o755)
        admin_url = embedded_server_url(home)
    try:
        with (
            scratch_database(admin_url, "tgstats_bench_report") as url,
            tempfile.TemporaryDirectory(prefix="tgstats-bench-reports-") as out,
        ):
            migrations.upgrade(url)
            engine = make_engine(url)
            channels = [1_000_000_000 + i for i in range(args.channels)]
            started = time.perf_counter()
            for channel_id in channels:
                rows.full_channel(engine, channel_id, args.days)
            print(
                f"rows of {len(channels)} channels written in {time.perf_counter() - started:.1f} s"
            )
            started = time.perf_counter()
            reports = [draw_report(engine, c, Path(out)) for c in channels]
            seconds = time.perf_counter() - started
            one = reports[0]
            report_bytes = one.html_path.stat().st_size
            overview_bytes = len(one.overview_svg.encode("utf-8"))
            print(
                f"{len(channels)} reports in {seconds:.1f} s ({seconds / len(channels):.3f} s each,"
                f" {len(one.drawn)} charts); one page {report_bytes} bytes, its overview"
                f" {overview_bytes} bytes"
            )
            engine.dispose()
    finally:
        if home is not None:
            stop_embedded_server(home)
    scaled = seconds * 200 / len(channels)
    print(f"reports_200_s={scaled:.1f} report_bytes={report_bytes} overview_bytes={overview_bytes}")


if __name__ == "__main__":
    main()
