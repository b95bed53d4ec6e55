"""Instant next pair: time from the decision key to the next pair fully drawn, in headless Chromium.

    DATABASE_URL=postgresql://… CELERY_BROKER_URL=redis://… .venv/bin/python bench/next_pair.py

Runs tests/test_browser_next_pair.py (a live server on a throwaway test database, the system's Chromium),
which measures with the Performance API, in one run, 5 decisions with the next pair prepared while the
reviewer looks (page, previews, first tiles) and 5 with the preparing switched off (the baseline). Prints
each figure, the medians and their ratio; exits 1 when the median with preparing is above 300 ms or the
test failed.
"""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main():
    with tempfile.TemporaryDirectory() as folder:
        report_path = Path(folder) / "next_pair.json"
        env = {**os.environ, "NEXT_PAIR_REPORT": str(report_path)}
        test = [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "tests/test_browser_next_pair.py"]
        result = subprocess.run(test, cwd=REPO, env=env, capture_output=True, text=True)
        if not report_path.exists():
            print(result.stdout[-3000:], result.stderr[-2000:])
            print("next pair: the browser test did not run to its measurements")
            return 1
        report = json.loads(report_path.read_text())
    fmt = ", ".join
    print(f"with the next pair prepared: {fmt(f'{t:.0f}' for t in report['prefetch_ms'])} ms")
    print(f"baseline (preparing off):    {fmt(f'{t:.0f}' for t in report['baseline_ms'])} ms")
    ratio = report["baseline_median_ms"] / max(report["prefetch_median_ms"], 0.1)
    met = report["prefetch_median_ms"] <= report["goal_ms"] and result.returncode == 0
    median, most = report["prefetch_median_ms"], report["prefetch_max_ms"]
    print(
        f"next pair: median {median:.0f} ms (max {most:.0f}) against "
        f"{report['baseline_median_ms']:.0f} ms without preparing ({ratio:.1f}x faster); "
        f"goal <= {report['goal_ms']} ms: {'met' if met else 'NOT MET'}"
    )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
