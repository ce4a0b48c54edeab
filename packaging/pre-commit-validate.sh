#!/bin/sh
# The pre-commit hook `validate` (.pre-commit-hooks.yaml): builds this revision's tallyfy-groups
# once, with `--locked` (exactly the dependencies Cargo.lock names), into this checkout's
# target/pre-commit, then runs `validate` with the hook's arguments. pre-commit runs it from the
# repository being committed to, and keeps this checkout between runs.
set -eu

here="$(cd "$(dirname "$0")/.." && pwd)"
bin="$here/target/pre-commit/release/tallyfy-groups"
if [ ! -x "$bin" ]; then
    if ! command -v cargo > /dev/null; then
        echo "tallyfy-groups pre-commit hook: building tallyfy-groups needs cargo (https://rustup.rs); or use the hook validate-installed with a tallyfy-groups on PATH" >&2
        exit 1
    fi
    echo "tallyfy-groups pre-commit hook: building tallyfy-groups with --locked (once; a few minutes)" >&2
    cargo build --locked --release --bin tallyfy-groups --manifest-path "$here/Cargo.toml" --target-dir "$here/target/pre-commit" >&2
fi
exec "$bin" validate "$@"
