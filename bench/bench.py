#!/usr/bin/env python3
"""Scenario benchmarks of tallyfy-groups against its own sandbox (loopback only).

Each run is measured twice over, at two sets of flags:

- default: no pacing flags at all (parallelism 4, at most 600 requests per rolling minute),
  against a sandbox that limits like Tallyfy (--rate-limit-per-minute 600, with X-RateLimit-*
  headers);
- tuned: --parallelism 16 --max-requests-per-minute 0, against a sandbox without a limit.

Scenarios:

- plan: a sandbox seeded with deterministic users, groups and guests and an added latency per
  request; the live groups exported as the desired state (so the plan reads everything and
  changes nothing). Requests made against the minimum ceil(groups/100) + ceil(users/100) (+
  ceil(guests/100) when the file names guests), and wall time against the latency bound.
- apply: 1,000 updates (every group of a 1,000-group organization gains one member), reads
  included, against its bound.
- stale: a plan whose file names about 1,300 members no longer among 50,000 users; the tool's
  CPU time until it lists them with their "did you mean" hints.
- recovery: 100 creates into 10,000 groups with faults injected into POSTs; the requests each
  ambiguous failure costs to find out whether the group was created.

The bound of R requests at parallelism P and latency L is R*L/P; under a limit of N requests per
rolling minute, every N requests beyond the first N add a minute: 60*floor((R-1)/N) +
(((R-1) mod N) + 1)*L/P. Each measured run gets a fresh sandbox (the same deterministic seed),
so no earlier run's requests count against its minute. Peak memory is the tool's own maximum
resident set, from /usr/bin/time (or, without it, the peak polled from /proc).

    cargo build --release --locked
    python3 bench/bench.py                         # everything below, about three minutes
    python3 bench/bench.py --sizes S --no-apply    # the CI smoke test: plan request counts only

Exits 1 when a plan made more (or fewer) requests than the minimum, or when a run at default
flags was refused (429) or sent more than 600 requests in some 60 seconds.
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
    "L": dict(groups=10_000, users=40_000, guests=0),
    "XL": dict(groups=10_000, users=100_000, guests=2_000),
}

PER_MINUTE = 600
PROFILES = {
    "default": dict(flags=[], sandbox=["--rate-limit-per-minute", str(PER_MINUTE)], parallelism=4, per_minute=PER_MINUTE),
    "tuned": dict(flags=["--parallelism", "16", "--max-requests-per-minute", "0"], sandbox=[], parallelism=16, per_minute=None),
}
# Setting up (exports) goes as fast as the unlimited sandbox allows.
FAST = ["--parallelism", "16", "--max-requests-per-minute", "0"]
TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None


class Sandbox:
    """A served sandbox process; its URL is read from its first line on stderr."""

    def __init__(self, binary, groups, users, guests, latency_ms, extra=()):
        self.proc = subprocess.Popen(
            [binary, "sandbox", "--listen", "127.0.0.1:0", "--seed-users", str(users), "--seed-groups", str(groups),
             "--seed-guests", str(guests), "--latency", str(latency_ms), *extra],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        first = self.proc.stderr.readline()
        match = re.search(r"(http://\S+/api)", first)
        if not match:
            self.proc.kill()
            raise SystemExit(f"sandbox did not start: {first!r}")
        self.url = match.group(1)
        threading.Thread(target=lambda: [None for _ in self.proc.stderr], daemon=True).start()

    def get(self, what):
        with urllib.request.urlopen(self.url.removesuffix("/api") + "/_sandbox/" + what) as r:
            return json.load(r)

    def close(self):
        self.proc.kill()
        self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.close()


def busiest_minute(log):
    """The most requests that arrived within any 60 seconds."""
    times = sorted(r["at_ms"] for r in log)
    most, first = 0, 0
    for last, t in enumerate(times):
        while times[first] <= t - 60_000:
            first += 1
        most = max(most, last - first + 1)
    return most


class Run:
    """One finished run of the tool: exit code, wall and CPU seconds, peak memory, output."""

    def __init__(self, code, wall, cpu, rss_mib, stdout, stderr):
        self.code, self.wall, self.cpu, self.rss, self.stdout, self.stderr = code, wall, cpu, rss_mib, stdout, stderr


def run(binary, sandbox, args, cwd):
    # Only the sandbox's token: other credentials in the environment would be a second source.
    env = {k: v for k, v in os.environ.items() if k not in ("TALLYFY_CLIENT_ID", "TALLYFY_CLIENT_SECRET", "TALLYFY_API_TOKEN", "TALLYFY_BASE_URL", "TALLYFY_TOKEN_URL")}
    env.update(TALLYFY_ACCESS_TOKEN="sandbox-token", TALLYFY_ORG_ID="sandbox", TALLYFY_API_URL=sandbox.url, NO_COLOR="1")
    out, err = tempfile.TemporaryFile(mode="w+"), tempfile.TemporaryFile(mode="w+")
    stats = tempfile.NamedTemporaryFile(mode="r", suffix=".time")
    # /usr/bin/time measures its own child, a fresh process: not this (large) interpreter.
    prefix = [TIME, "-f", "%M %U %S", "-o", stats.name] if TIME else []
    start = time.perf_counter()
    proc = subprocess.Popen([*prefix, binary, *args], cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
    if TIME:
        proc.wait()
        peak_kib = 0
    else:
        peak_kib = poll_peak(proc)
    wall = time.perf_counter() - start
    cpu = float("nan")
    if TIME:
        fields = stats.read().split()
        peak_kib, cpu = int(fields[-3]), float(fields[-2]) + float(fields[-1])
    out.seek(0)
    err.seek(0)
    return Run(proc.returncode, wall, cpu, peak_kib / 1024, out.read(), err.read())


def poll_peak(proc):
    """Waits for `proc`, reading its peak resident set (VmHWM) from /proc meanwhile."""
    peak = 0
    while proc.poll() is None:
        try:
            for line in open(f"/proc/{proc.pid}/status"):
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        except (OSError, ValueError):
            pass
        time.sleep(0.005)
    return peak


def bound(requests, latency_ms, parallelism, per_minute):
    per_request = latency_ms / 1000 / parallelism
    if not per_minute or requests <= per_minute:
        return requests * per_request
    return 60 * ((requests - 1) // per_minute) + ((requests - 1) % per_minute + 1) * per_request


def minimum_requests(size, with_guests):
    n = math.ceil(size["groups"] / 100) + math.ceil(size["users"] / 100)
    return n + (math.ceil(size["guests"] / 100) if with_guests else 0)


def export(binary, size, latency, workdir, name):
    """The seeded organization's groups as groups.yaml (from a sandbox of its own)."""
    desired = os.path.join(workdir, f"{name}.yaml")
    with Sandbox(binary, latency_ms=latency, **size) as sb:
        r = run(binary, sb, ["export", "--out", desired, *FAST], workdir)
        assert r.code == 0, f"export failed:\n{r.stderr[-2000:]}"
    return desired


def measured(binary, size, latency, profile, args, workdir, sandbox_extra=()):
    """Runs the tool once against a fresh sandbox; returns the run and what the sandbox saw."""
    p = PROFILES[profile]
    with Sandbox(binary, latency_ms=latency, extra=[*p["sandbox"], *sandbox_extra], **size) as sb:
        r = run(binary, sb, [*args, *p["flags"]], workdir)
        stats, log = sb.get("stats"), sb.get("log")
    return r, stats, log


def row(profile, r, stats, log, requests, latency):
    p = PROFILES[profile]
    b = bound(requests, latency, p["parallelism"], p["per_minute"])
    return dict(wall=r.wall, bound=b, ratio=r.wall / b if b else None, refused=stats.get("statuses", {}).get("429", 0),
                busiest=busiest_minute(log), rss=r.rss, cpu=r.cpu)


def bench_plan(binary, name, latency, profile, workdir):
    size = SIZES[name]
    desired = export(binary, size, latency, workdir, name)
    with open(desired) as f:
        with_guests = "guests:\n      - " in f.read()
    r, stats, log = measured(binary, size, latency, profile, ["plan", "-f", desired], workdir)
    assert r.code == 0 and "No changes." in r.stdout, f"plan failed or not empty ({r.code}):\n{r.stdout[-2000:]}{r.stderr[-2000:]}"
    made = stats["total"]
    return dict(size=name, requests=made, minimum=minimum_requests(size, with_guests), **row(profile, r, stats, log, made, latency), **size)


def bench_apply(binary, latency, profile, workdir, updates=1_000):
    size = dict(groups=updates, users=10_000, guests=0)
    desired = export(binary, size, latency, workdir, "apply")
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
    r, stats, log = measured(binary, size, latency, profile, ["apply", "-f", changed, "--auto-approve"], workdir)
    n = int(re.search(r"(\d+) to update", r.stdout).group(1))
    assert r.code == 0 and f"Apply: {n} applied" in r.stdout, r.stdout[-2000:] + r.stderr[-2000:]
    return dict(updates=n, requests=stats["total"], **row(profile, r, stats, log, stats["total"], latency))


def bench_stale(binary, latency, workdir, users=50_000, removed=2_750, groups=1_000):
    """A file naming members who left: exported where `users + removed` exist, planned where
    only `users` do."""
    desired = export(binary, dict(groups=groups, users=users + removed, guests=0), latency, workdir, "stale")
    size = dict(groups=0, users=users, guests=0)
    r, stats, _ = measured(binary, size, latency, "tuned", ["plan", "-f", desired], workdir)
    assert r.code == 1, f"the plan should fail on the stale members ({r.code}):\n{r.stderr[-2000:]}"
    unknown = r.stderr.count("is not a user of this organization")
    hints = r.stderr.count("did you mean")
    return dict(users=users, unknown=unknown, hints=hints, wall=r.wall, cpu=r.cpu, rss=r.rss, requests=stats["total"])


def bench_recovery(binary, latency, profile, workdir, groups=10_000, creates=100, fault_rate=0.2):
    size = dict(groups=groups, users=1_000, guests=0)
    desired = export(binary, size, latency, workdir, "recovery")
    with open(desired, "a") as f:
        for i in range(creates):
            f.write(f"  - name: New group {i:03}\n    description: Created by the benchmark.\n    members: [user{i}@example.com]\n")
    faults = ["--fault-rate", str(fault_rate), "--fault-methods", "POST", "--fault-seed", "7"]
    r, stats, _ = measured(binary, size, latency, profile, ["apply", "-f", desired, "--auto-approve"], workdir, faults)
    assert r.code == 0 and f"Apply: {creates} applied" in r.stdout, r.stdout[-2000:] + r.stderr[-2000:]
    reads = stats["requests"].get("GET /api/organizations/{org}/groups", 0)
    searches = stats.get("searches", 0)
    # The apply's own read of the groups, before any create.
    own = math.ceil(groups / 100)
    full_pages = reads - searches - own
    failures = stats["faults_injected"]
    return dict(groups=groups, creates=creates, failures=failures, searches=searches, full_pages=full_pages,
                per_failure=(searches + full_pages) / failures if failures else float("nan"),
                before=failures * (own + 1), wall=r.wall)


def ratio(r):
    return "–" if r["ratio"] is None else f"{r['ratio']:.2f}"


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
    ap.add_argument("--sizes", default="S,M,L,XL")
    ap.add_argument("--profiles", default="default,tuned")
    ap.add_argument("--latency", type=int, default=20, help="added latency per request, ms")
    ap.add_argument("--no-apply", action="store_true", help="plan runs only (no apply, stale or recovery scenario)")
    args = ap.parse_args()
    binary = os.path.abspath(args.bin)
    if not os.path.exists(binary):
        raise SystemExit(f"{binary} not found: run `cargo build --release --locked` first")
    profiles = [p.strip() for p in args.profiles.split(",")]
    print(f"Machine: {machine()}")
    print(f"Latency per request: {args.latency} ms; peak memory from {'/usr/bin/time' if TIME else '/proc (polled)'}\n")
    ok = True

    def check(profile, r):
        nonlocal ok
        if profile == "default" and (r["refused"] or r["busiest"] > PER_MINUTE):
            ok = False

    with tempfile.TemporaryDirectory() as workdir:
        for profile in profiles:
            print(f"Plan at {profile} flags ({' '.join(PROFILES[profile]['flags']) or 'none'}):\n")
            print("| size | groups | users | guests | requests | minimum | plan wall | bound | wall/bound | 429s | busiest 60 s | peak memory |")
            print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
            for name in args.sizes.split(","):
                r = bench_plan(binary, name.strip(), args.latency, profile, workdir)
                ok &= r["requests"] == r["minimum"]
                check(profile, r)
                print(f"| {r['size']} | {r['groups']:,} | {r['users']:,} | {r['guests']:,} | {r['requests']:,} | {r['minimum']:,} | "
                      f"{r['wall']:.2f} s | {r['bound']:.2f} s | {ratio(r)} | {r['refused']} | {r['busiest']} | {r['rss']:.0f} MiB |", flush=True)
            print()
        if not args.no_apply:
            print(f"Apply of 1,000 updates (1,000 groups, 10,000 users), reads included:\n")
            print("| flags | updates | requests | apply wall | bound | wall/bound | 429s | busiest 60 s | peak memory |")
            print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
            for profile in profiles:
                r = bench_apply(binary, args.latency, profile, workdir)
                check(profile, r)
                print(f"| {profile} | {r['updates']:,} | {r['requests']:,} | {r['wall']:.2f} s | {r['bound']:.2f} s | {ratio(r)} | "
                      f"{r['refused']} | {r['busiest']} | {r['rss']:.0f} MiB |", flush=True)
            r = bench_stale(binary, args.latency, workdir)
            print(f"\nStale members: a plan naming {r['unknown']:,} members who are not among {r['users']:,} users "
                  f"({r['hints']} with a \"did you mean\"): {r['cpu']:.2f} s of CPU, {r['wall']:.2f} s wall, "
                  f"{r['requests']} requests, {r['rss']:.0f} MiB peak.")
            r = bench_recovery(binary, args.latency, "tuned", workdir)
            print(f"\nCreate recovery: {r['creates']} creates into {r['groups']:,} groups, {r['failures']} ambiguous failures "
                  f"(POST faults): {r['searches']} searches and {r['full_pages']} full-list pages, "
                  f"{r['per_failure']:.2f} requests per failure (a full re-read would be {r['before']:,} in all); "
                  f"apply {r['wall']:.2f} s.")
    if not ok:
        print("\nFAIL: a plan did not make exactly the minimum number of requests, or a run at default flags "
              f"was refused or sent more than {PER_MINUTE} requests in 60 s", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
