#!/usr/bin/env python3
"""Summarizes an Autobahn|Testsuite report (index.json of `wstest -m fuzzingclient`).

Prints, per agent, how many cases ended in each behavior and how many closed
cleanly (behaviorClose OK), then lists every case that is not OK, NON-STRICT or
INFORMATIONAL, or whose close is not OK (nor INFORMATIONAL: 7.1.6 and 7.13.* only
report what the peer did, and mark their close INFORMATIONAL whatever happens).
Exits 1 if there is one (FAILED, UNIMPLEMENTED, an unclean close...), 2 if the
report is missing or empty.

    summary.py REPORT_DIR/index.json [--markdown]
"""

import collections
import json
import sys

BEHAVIORS = ["OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED"]
ACCEPTED = {"OK", "NON-STRICT", "INFORMATIONAL"}
ACCEPTED_CLOSE_ORDER = ["OK", "INFORMATIONAL"]
ACCEPTED_CLOSE = set(ACCEPTED_CLOSE_ORDER)


def case_key(case_id):
    """1.10.2 after 1.9.3: ids compare as numbers."""
    return [int(part) for part in case_id.split(".")]


def main(argv):
    if len(argv) < 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    markdown = "--markdown" in argv[2:]
    try:
        with open(argv[1], encoding="utf-8") as f:
            report = json.load(f)
    except (OSError, ValueError) as e:
        print(f"no report: {e}", file=sys.stderr)
        return 2
    if not report or not any(report.values()):
        print("the report holds no case", file=sys.stderr)
        return 2
    bad = []
    header = ["agent", "cases"] + [f"behavior {b}" for b in BEHAVIORS] + ["behaviorClose OK", "behaviorClose INFORMATIONAL"]
    rows = []
    for agent, cases in sorted(report.items()):
        behavior = collections.Counter(c["behavior"] for c in cases.values())
        closed = collections.Counter(c["behaviorClose"] for c in cases.values())
        others = sorted(set(behavior) - set(BEHAVIORS))
        row = [agent, str(len(cases))] + [str(behavior.get(b, 0)) for b in BEHAVIORS] + [str(closed.get(c, 0)) for c in ACCEPTED_CLOSE_ORDER]
        if others:
            row[-1] += " (other behaviors: " + ", ".join(f"{o} {behavior[o]}" for o in others) + ")"
        rows.append(row)
        for case_id in sorted(cases, key=case_key):
            c = cases[case_id]
            if c["behavior"] not in ACCEPTED or c["behaviorClose"] not in ACCEPTED_CLOSE:
                bad.append(f"{agent} {case_id}: behavior {c['behavior']}, behaviorClose {c['behaviorClose']}")
    if markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for row in rows:
            print("| " + " | ".join(row) + " |")
    else:
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
        for line in [header] + rows:
            print("  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(zip(line, widths))))
    if bad:
        print(f"\n{len(bad)} case(s) neither OK, NON-STRICT nor INFORMATIONAL, or not closed cleanly:")
        for line in bad:
            print("  " + line)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
