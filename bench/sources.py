#!/usr/bin/env python3
"""What membership sources cost a plan: the same groups typed into groups.yaml and read from
sources, against the same sandbox at the same latency.

The organization: a sandbox seeded with 50,000 users and 100 groups, with an added latency per
request. Three groups are added to it once (by an apply of the typed file):

- "All Staff", 50,000 members: typed, or a `csv` source of 50,000 rows (`where: {status:
  active}` on a three-column export);
- "Engineering", 5,000 members: typed, or an `ldap` source, a paged search (500 a page) of a
  real OpenLDAP slapd holding 5,000 people, started from a temporary folder on a free loopback
  port;
- "Okta People", 10,000 members: typed, or an `okta` source read from an Okta stand-in on
  loopback that serves 200 users a page, each page after the same added latency as the
  sandbox's requests, linking to the next (50 pages, one after the other).

Three files hold the same groups: all typed; All Staff and Engineering from the CSV and LDAP
sources ("local"); Okta People from Okta. `plan` of each runs --runs times, in turn, against that
one sandbox; each plan must say "No changes." and make the same requests. The sources are read
while the Tallyfy reads are under way, so their cost is what the plan's wall time grows by,
median against median. Exits 1 when a plan fails, changes something, or the CSV and LDAP
sources add more than 10 %.

    cargo build --release --locked
    python3 bench/sources.py                      # about a minute
    python3 bench/sources.py --latency 0 --runs 3
    python3 bench/sources.py --bin target/debug/tallyfy-groups --smoke --runs 1 --users 5000 --ldap-people 500 --okta-people 1000

Needs slapd and slapadd (Debian: `apt-get install slapd ldap-utils`).
"""

import argparse
import http.server
import json
import threading
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import FAST, PROFILES, Sandbox, machine, run  # noqa: E402

USERS = 50_000
GROUPS = 100
LDAP_PEOPLE = 5_000
OKTA_PEOPLE = 10_000
OKTA_PAGE = 200
OKTA_TOKEN = "bench-okta-token"
BASE = "dc=example,dc=com"
PEOPLE = f"ou=people,{BASE}"


def email(i):
    return f"user{i}@example.com"


def engineering():
    """The Engineering people: every tenth user, 5,000 of them."""
    return [email(i) for i in range(0, USERS, USERS // LDAP_PEOPLE)][:LDAP_PEOPLE]


def okta_people():
    """The Okta group's people: every fifth user, 10,000 of them."""
    return [email(i) for i in range(0, USERS, max(1, USERS // OKTA_PEOPLE))][:OKTA_PEOPLE]


class Okta:
    """An Okta stand-in: GET /api/v1/groups/00gBENCH/users?limit=200[&after=N], `latency_ms`
    before each page, pages linked by `Link: <…>; rel="next"`."""

    def __init__(self, latency_ms):
        people = okta_people()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.requests += 1
                time.sleep(latency_ms / 1000)
                url = urllib.parse.urlsplit(self.path)
                query = urllib.parse.parse_qs(url.query)
                if url.path != "/api/v1/groups/00gBENCH/users" or self.headers.get("Authorization") != f"SSWS {OKTA_TOKEN}":
                    self.send_response(404)
                    self.end_headers()
                    return
                start = int(query.get("after", ["0"])[0])
                chunk = people[start:start + OKTA_PAGE]
                body = json.dumps([{"id": f"00u{start + n}", "status": "ACTIVE", "profile": {"email": e, "login": e}}
                                   for n, e in enumerate(chunk)]).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                if start + OKTA_PAGE < len(people):
                    self.send_header("Link", f'<{outer.url}/api/v1/groups/00gBENCH/users?limit=200&after={start + OKTA_PAGE}>; rel="next"')
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_):
                pass

        self.requests = 0
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


def find(paths, test):
    return next((p for p in paths if test(p)), None)


class Slapd:
    """OpenLDAP's slapd with the Engineering people, on a free loopback port."""

    def __init__(self, workdir):
        self.slapd = find(["/usr/sbin/slapd", shutil.which("slapd") or ""], os.path.isfile)
        slapadd = find(["/usr/sbin/slapadd", shutil.which("slapadd") or ""], os.path.isfile)
        schema = find(["/etc/ldap/schema", "/etc/openldap/schema"], lambda d: os.path.isfile(f"{d}/inetorgperson.schema"))
        modules = find(["/usr/lib/ldap", "/usr/lib64/openldap", "/usr/lib/openldap"], lambda d: os.path.exists(f"{d}/back_mdb.so"))
        if not (self.slapd and slapadd and schema):
            raise SystemExit("slapd, slapadd or the OpenLDAP schema files were not found: apt-get install slapd ldap-utils")
        self.dir = os.path.join(workdir, "slapd")
        os.makedirs(f"{self.dir}/db")
        conf = [f"include {schema}/{s}.schema" for s in ("core", "cosine", "inetorgperson")]
        if modules:
            conf += [f"modulepath {modules}", "moduleload back_mdb"]
        conf += [f"pidfile {self.dir}/slapd.pid", f"argsfile {self.dir}/slapd.args", "access to * by * read",
                 "database mdb", f'suffix "{BASE}"', f'rootdn "cn=admin,{BASE}"', "rootpw admin",
                 f"directory {self.dir}/db", "maxsize 1073741824",
                 "limits anonymous size.soft=500 size.hard=500 size.prtotal=unlimited"]
        self.conf = f"{self.dir}/slapd.conf"
        with open(self.conf, "w") as f:
            f.write("\n".join(conf) + "\n")
        ldif = [f"dn: {BASE}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n",
                f"dn: {PEOPLE}\nobjectClass: organizationalUnit\nou: people\n"]
        for n, address in enumerate(engineering()):
            ldif.append(f"dn: uid=p{n},{PEOPLE}\nobjectClass: inetOrgPerson\nuid: p{n}\ncn: Person {n}\nsn: {n}\n"
                        f"mail: {address}\ndepartmentNumber: eng\n")
        with open(f"{self.dir}/people.ldif", "w") as f:
            f.write("\n".join(ldif))
        subprocess.run([slapadd, "-q", "-f", self.conf, "-l", f"{self.dir}/people.ldif"], check=True,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"ldap://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([self.slapd, "-f", self.conf, "-h", self.url + "/", "-d", "0"],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.proc.kill()
                    raise SystemExit(f"slapd did not start on port {self.port} (AppArmor may confine it: "
                                     "apparmor_parser -R /etc/apparmor.d/usr.sbin.slapd)")
                time.sleep(0.01)

    def close(self):
        self.proc.terminate()
        self.proc.wait()


def files(workdir, exported, ldap_url, okta_url):
    """Three files of the same groups (the exported seeded ones plus the three big ones): all
    typed; All Staff and Engineering from the CSV and LDAP sources; Okta People from Okta."""
    with open(exported) as f:
        seeded = f.read().split("groups:\n", 1)[1].rstrip("\n")
    staff = [email(i) for i in range(USERS)]
    with open(f"{workdir}/people.csv", "w") as f:
        f.write("email,department,status\n")
        f.writelines(f"{e},dept{i % 40},active\n" for i, e in enumerate(staff))

    def group(name, description, people, source, sourced):
        head = [f"  - name: {name}", f"    description: {description}"]
        return head + (["    members: [{source: %s}]" % source] if sourced else ["    members:", *[f"      - {e}" for e in people]])

    def file(local, okta):
        lines = ["sources:"] if local or okta else []
        if local:
            lines += ["  staff:", "    csv: {path: people.csv, column: email, where: {status: active}}",
                      "  engineering:", "    ldap:", f"      url: {ldap_url}", f"      base: {PEOPLE}",
                      "      filter: (departmentNumber=eng)"]
        if okta:
            lines += ["  okta-people:", "    okta:", f"      url: {okta_url}", "      group_id: 00gBENCH",
                      "      token_env: BENCH_OKTA_TOKEN"]
        return (lines + ["groups:", seeded]
                + group("All Staff", "Everyone.", staff, "staff", local)
                + group("Engineering", "Engineers.", engineering(), "engineering", local)
                + group("Okta People", "From Okta.", okta_people(), "okta-people", okta))

    paths = {}
    for name, lines in (("typed", file(False, False)), ("local", file(True, False)), ("okta", file(False, True))):
        paths[name] = f"{workdir}/{name}.yaml"
        with open(paths[name], "w") as f:
            f.write("\n".join(lines) + "\n")
    return paths


def main():
    global USERS, LDAP_PEOPLE, OKTA_PEOPLE
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.path.join(os.path.dirname(__file__), "..", "target", "release", "tallyfy-groups"))
    ap.add_argument("--latency", type=int, default=20, help="added latency per request, ms")
    ap.add_argument("--runs", type=int, default=5, help="plans of each file")
    ap.add_argument("--profile", default="default", choices=sorted(PROFILES))
    ap.add_argument("--users", type=int, default=USERS, help="users, and the CSV's rows")
    ap.add_argument("--ldap-people", type=int, default=LDAP_PEOPLE, help="people in the directory")
    ap.add_argument("--okta-people", type=int, default=OKTA_PEOPLE, help="people in the Okta group")
    ap.add_argument("--smoke", action="store_true", help="check the plans only (CI): no limit on the time added")
    args = ap.parse_args()
    USERS, LDAP_PEOPLE, OKTA_PEOPLE = args.users, min(args.ldap_people, args.users), min(args.okta_people, args.users)
    os.environ["BENCH_OKTA_TOKEN"] = OKTA_TOKEN
    binary = os.path.abspath(args.bin)
    if not os.path.exists(binary):
        raise SystemExit(f"{binary} not found: run `cargo build --release --locked` first")
    profile = PROFILES[args.profile]
    print(f"Machine: {machine()}")
    print(f"{USERS:,} users, {GROUPS} seeded groups, latency {args.latency} ms, {args.profile} flags "
          f"({' '.join(profile['flags']) or 'none'}), {args.runs} plans of each file\n")
    with tempfile.TemporaryDirectory() as workdir:
        slapd = Slapd(workdir)
        okta = Okta(args.latency)
        try:
            # The sandbox limits like Tallyfy only at default flags; the whole run shares it, so
            # at default flags it must not limit at all (the plans' reads would count against
            # one another's minute): the measured plans use the profile's tool flags only.
            with Sandbox(binary, GROUPS, USERS, 0, args.latency) as sb:
                exported = f"{workdir}/exported.yaml"
                r = run(binary, sb, ["export", "--out", exported, *FAST], workdir)
                assert r.code == 0, f"export failed:\n{r.stderr[-2000:]}"
                paths = files(workdir, exported, slapd.url, okta.url)
                r = run(binary, sb, ["apply", "-f", paths["typed"], "--auto-approve", *FAST], workdir)
                assert r.code == 0, f"apply failed:\n{r.stdout[-2000:]}{r.stderr[-2000:]}"
                walls = {"typed": [], "local": [], "okta": []}
                rss = {"typed": [], "local": [], "okta": []}
                requests = {}
                for _ in range(args.runs):
                    for name in walls:
                        before = sb.get("stats")["total"]
                        r = run(binary, sb, ["plan", "-f", paths[name], *profile["flags"]], workdir)
                        if r.code != 0 or "No changes." not in r.stdout:
                            raise SystemExit(f"plan of {name} failed or is not empty ({r.code}):\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
                        made = sb.get("stats")["total"] - before
                        if requests.setdefault(name, made) != made:
                            raise SystemExit(f"plan of {name} made {made} requests, earlier {requests[name]}")
                        walls[name].append(r.wall)
                        rss[name].append(r.rss)
                # One more plan, not counted, with the log saying how long each read took.
                reads = {}
                for name in ("local", "okta"):
                    r = run(binary, sb, ["plan", "-f", paths[name], "-v", "--log-format", "json", *profile["flags"]], workdir)
                    logged = [json.loads(line) for line in r.stderr.splitlines() if '"read source"' in line]
                    reads.update({e["fields"]["source"]: e["fields"] for e in logged if "fields" in e})
        finally:
            slapd.close()
            okta.close()
    if len(set(requests.values())) != 1:
        raise SystemExit(f"the plans made different requests: {requests}")
    typed = statistics.median(walls["typed"])
    added = {name: (statistics.median(walls[name]) - typed) / typed for name in ("local", "okta")}
    print("| file | members | plan wall (min / median / max) | added | requests | peak memory |")
    print("|---|---|---:|---:|---:|---:|")
    for name, what in (("typed", f"{USERS + LDAP_PEOPLE + OKTA_PEOPLE:,} typed emails"),
                       ("local", f"CSV of {USERS:,} rows, LDAP search of {LDAP_PEOPLE:,} people"),
                       ("okta", f"Okta group of {OKTA_PEOPLE:,} people")):
        w = walls[name]
        more = f"{added[name] * 100:+.1f} %" if name in added else "–"
        print(f"| {name} | {what} | {min(w):.2f} / {statistics.median(w):.2f} / {max(w):.2f} s | {more} | {requests[name]:,} | "
              f"{max(rss[name]):.0f} MiB |")
    print()
    for name, fields in sorted(reads.items()):
        print(f"Source {name} ({fields.get('kind')}): {fields.get('people'):,} people read in {fields.get('ms')} ms.")
    pages = -(-OKTA_PEOPLE // OKTA_PAGE)
    print(f"\nOkta's {pages} pages follow one another (each page's link names the next): at {args.latency} ms a page "
          f"its read cannot take less than {pages * args.latency / 1000:.2f} s, and a plan not less than that.")
    print(f"The CSV and LDAP sources add {added['local'] * 100:+.1f} % to the median plan (limit +10 %).")
    return 0 if args.smoke or added["local"] <= 0.10 else 1


if __name__ == "__main__":
    sys.exit(main())
