"""Score `analyze` on both log corpora: the project's (tests/corpus, written by the real tools from
trainings where a known fault happened) and the public one beside the project (../shared/corpus/wild,
logs other people committed, with a reviewer's labels), when present.

    python benchmarks/corpus.py            # both corpora
    python benchmarks/corpus.py --wild     # only the public logs

One row per case: what was read, the monitored metric and its best epoch, the ids found (folded ones
in brackets), the `must` ids missed and the `must_not` ids found. Then per corpus: right / total,
false ids, files not read, and the time analysis took.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from corpus_scoring import cases, score  # noqa: E402


def describe(result) -> tuple[str, str, str]:
    sources = sorted({report.source for report in result.reports})
    monitors, found = [], []
    for report in result.reports:
        monitor = report.run.monitor
        best = report.signals.values.get("metric.best_epoch") if report.signals else None
        monitors.append(f"{monitor.metric}@{best.value}" if monitor and best else "none")
        ids = [d.id + (f"[{','.join(e.id for e in d.explains)}]" if d.explains else "") for d in report.diagnoses]
        found.append(" ".join(ids) or "-")
    return ",".join(sources), " | ".join(monitors), " | ".join(found)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wild", action="store_true", help="only the public logs")
    parser.add_argument("--project", action="store_true", help="only the project's own corpus")
    args = parser.parse_args()
    corpora = ["wild"] if args.wild else ["project"] if args.project else ["project", "wild"]
    failed = False
    for corpus in corpora:
        labels = cases(corpus)
        if not labels:
            print(f"{corpus}: no corpus found, skipped")
            continue
        start = time.perf_counter()
        results = [score(corpus, case, label) for case, label in sorted(labels.items())]
        elapsed = time.perf_counter() - start
        print(f"\n{corpus} corpus ({len(results)} cases)\n")
        header = f"{'case':44} {'ok':3} {'read as':12} {'monitored@best':34} {'found':40} missed / false"
        print(header)
        print("-" * len(header))
        for result in results:
            sources, monitors, found = describe(result)
            wrong = f"{','.join(result.missing) or '-'} / {','.join(result.false) or '-'}"
            print(f"{result.case[:44]:44} {'yes' if result.right else 'NO':3} {sources[:12]:12} {monitors[:34]:34} "
                  f"{found[:40]:40} {wrong}")
            for note in result.unread:
                print(f"{'':48}not read: {note}")
        right = sum(result.right for result in results)
        false = sum(len(result.false) for result in results)
        missed = sum(len(result.missing) for result in results)
        unread = sum(len(result.unread) for result in results)
        print(f"\n{corpus}: {right} / {len(results)} right · {missed} must ids missed · {false} false ids · "
              f"{unread} files not read · analysed in {elapsed:.1f} s")
        failed |= right < len(results)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
