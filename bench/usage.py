#!/usr/bin/env python3
"""What the usage check costs a plan: the same plans with `--usage-check auto` (the default) and
`--usage-check never`, against one sandbox at the same latency.

The organization: a sandbox seeded with users, groups and templates (`--seed-templates`: five
steps each, on the first half of the groups; one in ten archived; one active process each), with
an added latency per request. Three files, each the live groups exported, then edited:

- "no deletes": the export as it is; the plan changes nothing and reads no usage at all;
- "delete 1": one group of the second half (used by no template) marked `absent: true`;
- "delete 5": five such groups.

Each plan runs --runs times per mode, in turn. The usage reads are ceil(active/100) +
ceil(archived/100) template pages plus two counts per deleted group; the plan's own "after N
reads of where groups are used" must say exactly that, and the "never" plans must read none.
Exits 1 when a plan fails or a count differs.

    cargo build --release --locked
    python3 bench/usage.py                       # about a minute
    python3 bench/usage.py --bin target/debug/tallyfy-groups --smoke
"""

import argparse
import math
import os
import re
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import FAST, Sandbox, machine, run  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default="target/release/tallyfy-groups")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--latency", type=int, default=20, help="milliseconds per request")
    ap.add_argument("--users", type=int, default=10_000)
    ap.add_argument("--groups", type=int, default=1_000)
    ap.add_argument("--templates", type=int, default=2_000)
    ap.add_argument("--smoke", action="store_true", help="small and once: CI checks the counts")
    args = ap.parse_args()
    if args.smoke:
        args.runs, args.users, args.groups, args.templates, args.latency = 1, 200, 20, 150, 0
    binary = os.path.abspath(args.bin)
    archived = args.templates // 10
    active = args.templates - archived
    pages = max(1, math.ceil(active / 100)) + max(1, math.ceil(archived / 100))
    print(f"{machine()}; {args.users:,} users, {args.groups:,} groups, {args.templates:,} templates "
          f"({archived:,} archived), {args.latency} ms per request, {args.runs} runs")
    failed = False
    with tempfile.TemporaryDirectory() as work, Sandbox(
        binary, groups=args.groups, users=args.users, guests=0, latency_ms=args.latency,
        extra=["--seed-templates", str(args.templates)],
    ) as sb:
        exported = os.path.join(work, "export.yaml")
        r = run(binary, sb, ["export", "--out", exported, *FAST], work)
        assert r.code == 0, r.stderr[-2000:]
        text = open(exported).read()
        names = re.findall(r"^  - name: (.+)$", text, flags=re.M)
        unused = names[len(names) - len(names) // 2:]
        files = {"no deletes": (exported, 0)}
        for n in (1, 5):
            edited = text
            for name in unused[:n]:
                edited = edited.replace(f"  - name: {name}\n", f"  - name: {name}\n    absent: true\n  - name: {name} (was)\n", 1)
            path = os.path.join(work, f"delete-{n}.yaml")
            open(path, "w").write(edited)
            files[f"delete {n}"] = (path, n)
        print()
        print("| plan | usage reads | auto | never | difference |")
        print("|---|---:|---:|---:|---:|")
        for label, (path, deleted) in files.items():
            expected = 0 if deleted == 0 else pages + 2 * deleted
            walls = {"auto": [], "never": []}
            for _ in range(args.runs):
                for mode in ("auto", "never"):
                    r = run(binary, sb, ["plan", "-f", path, "--usage-check", mode], work)
                    if r.code != 0:
                        print(f"{label} ({mode}) exited {r.code}:\n{r.stderr[-2000:]}", file=sys.stderr)
                        failed = True
                        continue
                    said = re.search(r"after (\d+) reads? of where groups are used", r.stdout)
                    reads = int(said.group(1)) if said else 0
                    want = expected if mode == "auto" else 0
                    if reads != want:
                        print(f"{label} ({mode}): {reads} usage reads, expected {want}", file=sys.stderr)
                        failed = True
                    walls[mode].append(r.wall)
            if not walls["auto"] or not walls["never"]:
                continue
            a, n = statistics.median(walls["auto"]), statistics.median(walls["never"])
            span = lambda w: f"{statistics.median(w):.2f} s ({min(w):.2f}–{max(w):.2f})"
            print(f"| {label} | {expected} | {span(walls['auto'])} | {span(walls['never'])} | {a - n:+.2f} s |")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
