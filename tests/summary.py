#!/usr/bin/env python3
"""Counts every test case (TAP lines) in a meson testlog.json and prints the closing line."""
import json
import re
import sys

TAP = re.compile(r"^(not ok|ok)\b[^#]*(#\s*(SKIP|TODO)\b.*)?", re.I)


def details(rest, limit=12):
    """The diagnostics a failed case printed after its line (up to the next case), indented,
    so a log that keeps only its tail still says why."""
    out = []
    for line in rest:
        if TAP.match(line.strip()) or len(out) == limit:
            break
        if line.strip():
            out.append("\n    " + line.rstrip())
    return "".join(out)


def main(path, label):
    passed = failed = skipped = 0
    failures = []
    for line in open(path, encoding="utf-8", errors="replace"):
        entry = json.loads(line)
        counted = 0
        lines = (entry.get("stdout") or "").splitlines()
        for i, out in enumerate(lines):
            m = TAP.match(out.strip())
            if not m:
                continue
            counted += 1
            # SKIP, and a TODO (a known failure TAP does not count), are neither passed nor
            # failed.
            if m.group(3):
                skipped += 1
            elif m.group(1) == "ok":
                passed += 1
            else:
                failed += 1
                failures.append(f"{entry['name']}: {out.strip()}" + details(lines[i + 1:]))
        # A binary that failed without saying which case (a crash, a timeout, a sanitizer
        # report after the last case) is one more failure.
        if entry["result"] not in ("OK", "SKIP", "EXPECTEDFAIL") and not any(
            f.startswith(entry["name"] + ":") for f in failures
        ):
            failed += 1
            err = (entry.get("stderr") or "").splitlines()[-15:]
            failures.append(f"{entry['name']}: {entry['result']} (exit {entry.get('returncode')})"
                            + "".join(f"\n    {e}" for e in err))
        if counted == 0 and entry["result"] == "SKIP":
            skipped += 1
    for f in failures:
        print(f"FAILED {f}")
    print(f"{label}: {passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "tests"))
