"""Time the schema importer over the OpenAPI corpus (run by hand: `make bench-schemas`).

Prints, per file: size, outcome and the median of 3 parses. Not a test: numbers vary by machine.
"""

import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from actions.openapi import SchemaError, parse_schema  # noqa: E402

CORPUS = ROOT.parent / "shared" / "openapi-corpus"


def main() -> None:
    files = sorted(p for p in CORPUS.glob("*") if p.suffix in (".json", ".yaml"))
    print(f"{'file':42} {'size':>9} {'median s':>9}  outcome")
    for path in files:
        text = path.read_text(encoding="utf-8")
        times, outcome = [], ""
        for _ in range(3):
            started = time.perf_counter()
            try:
                parsed = parse_schema(text)
                outcome = f"{len(parsed.operations)} operations"
            except SchemaError as exc:
                outcome = f"refused: {str(exc.problems[0])[:60]}"
            times.append(time.perf_counter() - started)
        print(f"{path.name:42} {len(text) / 1000:8.0f}K {statistics.median(times):9.3f}  {outcome}")


if __name__ == "__main__":
    main()
