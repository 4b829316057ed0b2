"""``python -m tests.support.sr --out DIR [--count N]`` writes benchmark reports,
``--out DIR --all`` writes every case, ``--selfcheck`` builds everything twice and compares
bytes, ``--tree NAME`` prints a case's content tree with item paths."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from tests.support.sr.benchmark import write_reports
from tests.support.sr.catalogue import GOOD_CASES, selfcheck, write_all
from tests.support.sr.tree import tree_lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.sr", description=__doc__)
    parser.add_argument("--out", type=Path, help="folder to write into")
    parser.add_argument("--count", type=int, default=100, help="benchmark reports (default 100)")
    parser.add_argument("--all", action="store_true", help="write every case, not benchmarks")
    parser.add_argument("--selfcheck", action="store_true", help="build twice, compare bytes")
    parser.add_argument("--tree", metavar="NAME", help="print the content tree of a good case")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    if args.selfcheck:
        differ = selfcheck()
        print("selfcheck:", "FAILED " + ", ".join(differ) if differ else "ok")
        if differ:
            return 1
    elif args.tree:
        print("\n".join(tree_lines(GOOD_CASES[args.tree]())))
    elif args.out and args.all:
        print(f"wrote {len(write_all(args.out))} files to {args.out}")
    elif args.out:
        write_reports(args.out, args.count, start=1)
        print(f"wrote {args.count} benchmark reports to {args.out}")
    else:
        parser.print_usage()
        return 2
    print(f"took {time.perf_counter() - started:.2f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
