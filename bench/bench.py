#!/usr/bin/env python3
"""Scenario benchmarks of tallyfy-groups against its own sandbox (loopback only).

For each size it seeds a sandbox with deterministic users, groups and guests and an added
latency per request, exports the live groups as the desired state (so the plan reads everything
and changes nothing), and measures `plan`: wall time, requests made against the minimum
ceil(groups/100) + ceil(users/100) + ceil(guests/100), and peak memory. Then it measures `apply`
of 1,000 updates (every group of the M size gains one member) at each parallelism, against the
bound N * latency / parallelism.

    cargo build --release
    python3 bench/bench.py                       # S, M, L and the apply runs
    python3 bench/bench.py --sizes S --no-apply  # the CI smoke test

Exits 1 when plan made more (or fewer) requests than the minimum.
"""

import argparse
import json
import math
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

SIZES = {
    "S": dict(groups=100, users=1_000, guests=20),
    "M": dict(groups=1_000, users=10_000, guests=200),
    "L": dict(groups=10_000, users=100_000, guests=2_000),
}


class Sandbox:
    """A served sandbox process; its URL is read from its first line on stderr."""

    def __init__(self, binary, groups, users, guests, latency_ms):
        self.proc = subprocess.Popen(
            [binary, "sandbox", "--listen", "127.0.0.1:0", "--seed-users", str(users), "--seed-groups", str(groups),
             "--seed-guests", str(guests), "--latency", str(latency_ms)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        first = self.proc.stderr.readline()
        match = re.search(r"(http://\S+/api)", first)
        if not match:
            self.proc.kill()
            raise SystemExit(f"sandbox did not start: {first!r}")
        self.url = match.group(1)
        threading.Thread(target=lambda: [None for _ in self.proc.stderr], daemon=True).start()

    def stats(self):
        with urllib.request.urlopen(self.url.removesuffix("/api") + "/_sandbox/stats") as r:
            return json.load(r)

    def close(self):
        self.proc.kill()
        self.proc.wait()


def run(binary, sandbox, args, cwd):
    """Runs the tool; returns (exit code, wall seconds, peak RSS in MiB, stdout)."""
    env = dict(os.environ, TALLYFY_ACCESS_TOKEN="sandbox-token", TALLYFY_ORG_ID="sandbox", TALLYFY_API_URL=sandbox.url, NO_COLOR="1")
    out = tempfile.TemporaryFile(mode="w+")
    start = time.perf_counter()
    proc = subprocess.Popen([binary, *args], cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    out.seek(0)
    return proc.returncode, wall, usage.ru_maxrss / 1024, out.read()


def minimum_requests(size, with_guests):
    n = math.ceil(size["groups"] / 100) + math.ceil(size["users"] / 100)
    return n + (math.ceil(size["guests"] / 100) if with_guests else 0)


def bench_plan(binary, name, latency, parallelism, workdir):
    size = SIZES[name]
    sb = Sandbox(binary, latency_ms=latency, **size)
    try:
        desired = os.path.join(workdir, f"{name}.yaml")
        code, _, _, _ = run(binary, sb, ["export", "--out", desired, "--max-rps", "0", "--parallelism", str(parallelism)], workdir)
        assert code == 0, "export failed"
        with open(desired) as f:
            with_guests = "guests:\n      - " in f.read()
        before = sb.stats()["total"]
        code, wall, rss, out = run(binary, sb, ["plan", "-f", desired, "--max-rps", "0", "--parallelism", str(parallelism)], workdir)
        assert code == 0 and "No changes." in out, f"plan failed or not empty ({code}):\n{out[-2000:]}"
        made = sb.stats()["total"] - before
        return dict(size=name, wall=wall, requests=made, minimum=minimum_requests(size, with_guests), rss=rss, **size)
    finally:
        sb.close()


def bench_apply(binary, latency, parallelism, workdir, updates=1_000, max_rps=0):
    size = dict(groups=updates, users=10_000, guests=0)
    sb = Sandbox(binary, latency_ms=latency, **size)
    try:
        desired = os.path.join(workdir, "apply.yaml")
        code, _, _, _ = run(binary, sb, ["export", "--out", desired, "--max-rps", "0", "--parallelism", "16"], workdir)
        assert code == 0, "export failed"
        # Every group gains one member that it does not have yet: one PUT per group.
        blocks, current = [], None
        for line in open(desired).read().splitlines():
            if line.startswith("  - name: "):
                current = [line]
                blocks.append(current)
            elif current is not None:
                current.append(line)
            else:
                blocks.append([line])
        out = []
        for g, block in enumerate(blocks):
            members = {l.split()[1] for l in block if l.startswith("      - ")}
            k = g * 7919
            while f"user{k % size['users']}@example.com" in members:
                k += 1
            for line in block:
                out.append(line)
                if line == "    members:" or line == "    members: []":
                    if line.endswith("[]"):
                        out[-1] = "    members:"
                    out.append(f"      - user{k % size['users']}@example.com")
        changed = os.path.join(workdir, "apply-changed.yaml")
        open(changed, "w").write("\n".join(out) + "\n")
        common = ["--max-rps", str(max_rps), "--parallelism", str(parallelism)]
        code, plan_wall, _, plan_out = run(binary, sb, ["plan", "-f", changed, *common], workdir)
        assert code == 0, plan_out[-2000:]
        n = int(re.search(r"(\d+) to update", plan_out).group(1))
        code, wall, rss, out = run(binary, sb, ["apply", "-f", changed, "--auto-approve", *common], workdir)
        assert code == 0 and f"Apply: {n} applied" in out, out[-2000:]
        writes = max(wall - plan_wall, 1e-9)
        bound = max(n * latency / 1000 / parallelism, n / max_rps if max_rps else 0)
        return dict(parallelism=parallelism, max_rps=max_rps, updates=n, wall=wall, reads=plan_wall, writes=writes, bound=bound, rss=rss)
    finally:
        sb.close()


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(open("/proc/meminfo").readline().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return f"{os.cpu_count()} cores ({cpu}){mem}, {platform.system()} {platform.release()}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.path.join(os.path.dirname(__file__), "..", "target", "release", "tallyfy-groups"))
    ap.add_argument("--sizes", default="S,M,L")
    ap.add_argument("--latency", type=int, default=20, help="added latency per request, ms")
    ap.add_argument("--parallelism", type=int, default=8, help="parallelism of the plan runs")
    ap.add_argument("--no-apply", action="store_true")
    ap.add_argument("--apply-parallelism", default="1,4,8,16")
    ap.add_argument("--apply-rps", type=int, default=100, help="one more apply at parallelism 16 with this --max-rps (0: skip)")
    args = ap.parse_args()
    binary = os.path.abspath(args.bin)
    if not os.path.exists(binary):
        raise SystemExit(f"{binary} not found: run `cargo build --release` first")
    print(f"Machine: {machine()}")
    print(f"Latency per request: {args.latency} ms; plan parallelism {args.parallelism}; client rate limit off (--max-rps 0)\n")
    ok = True
    with tempfile.TemporaryDirectory() as workdir:
        print("| size | groups | users | guests | plan wall | requests | minimum | requests/minimum | peak memory |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for name in args.sizes.split(","):
            r = bench_plan(binary, name.strip(), args.latency, args.parallelism, workdir)
            ratio = r["requests"] / r["minimum"]
            ok &= r["requests"] == r["minimum"]
            print(f"| {r['size']} | {r['groups']:,} | {r['users']:,} | {r['guests']:,} | {r['wall']:.2f} s | {r['requests']:,} | {r['minimum']:,} | {ratio:.2f} | {r['rss']:.0f} MiB |", flush=True)
        if not args.no_apply:
            print(f"\nApply of 1,000 updates (M: 1,000 groups, 10,000 users) at {args.latency} ms latency:\n")
            print("| parallelism | --max-rps | updates | apply wall | of which reads | writes | bound max(N·L/P, N/rps) | writes/bound | peak memory |")
            print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
            runs = [(int(x), 0) for x in args.apply_parallelism.split(",")]
            if args.apply_rps:
                runs.append((16, args.apply_rps))
            for p, rps in runs:
                r = bench_apply(binary, args.latency, p, workdir, max_rps=rps)
                print(f"| {p} | {rps or 'off'} | {r['updates']:,} | {r['wall']:.2f} s | {r['reads']:.2f} s | {r['writes']:.2f} s | {r['bound']:.2f} s | {r['writes'] / r['bound']:.2f} | {r['rss']:.0f} MiB |", flush=True)
    if not ok:
        print("\nFAIL: plan did not make exactly the minimum number of requests", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
