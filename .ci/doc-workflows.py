#!/usr/bin/env python3
"""Writes every GitHub workflow the docs give as a whole file (a ```yaml block whose first line
is `# .github/workflows/NAME.yml`) to OUT/.github/workflows/NAME.yml, for actionlint.

Usage: .ci/doc-workflows.py OUT
"""

import pathlib
import re
import sys

root = pathlib.Path(__file__).resolve().parent.parent
out = pathlib.Path(sys.argv[1]) / ".github" / "workflows"
out.mkdir(parents=True, exist_ok=True)
written = {}
for doc in [root / "README.md", *sorted((root / "docs").glob("*.md"))]:
    lines = doc.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        fence = re.match(r"^(\s*)```yaml\s*$", lines[i])
        i += 1
        if not fence:
            continue
        indent = len(fence.group(1))
        body = []
        while i < len(lines) and not (lines[i].strip() == "```" and len(lines[i]) - len(lines[i].lstrip()) == indent):
            body.append(lines[i][indent:])
            i += 1
        name = re.match(r"^# \.github/workflows/([\w.-]+\.ya?ml)\s*$", body[0]) if body else None
        if not name:
            continue
        where = f"{doc.relative_to(root)}:{i - len(body)}"
        if name.group(1) in written:
            sys.exit(f"{where}: {name.group(1)} is also given at {written[name.group(1)]}")
        (out / name.group(1)).write_text("\n".join(body) + "\n", encoding="utf-8")
        written[name.group(1)] = where
if len(written) < 3:
    sys.exit(f"expected the docs' plan, apply and drift workflows, found {sorted(written)}")
for name, where in sorted(written.items()):
    print(f"{where} -> {out / name}")
