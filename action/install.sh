#!/usr/bin/env bash
# Step 1 of the GitHub Action (action.yml): installs tallyfy-groups for this runner.
#
# The release INPUT_VERSION for the runner's platform is downloaded from INPUT_DOWNLOAD_URL and
# checked against the SHA-256 published beside it. When that release is not published (HTTP
# 404), when the platform has no release binary, or when INPUT_VERSION is `source`, this
# action's own source (ACTION_PATH) is built with `cargo install --locked` instead. Any other
# failed download, a missing checksum or a checksum that does not match fails the step: nothing
# unverified is installed. With the GitHub CLI on the runner (or verify-attestation: true), the
# archive's build provenance attestation must also verify. The binary's directory is added to
# GITHUB_PATH, so later steps of the job can run `tallyfy-groups` too.
set -euo pipefail

version="${INPUT_VERSION:-}"
base="${INPUT_DOWNLOAD_URL%/}"
temp="${RUNNER_TEMP:?RUNNER_TEMP is not set: run this as a GitHub Action}"
if command -v cygpath > /dev/null; then temp="$(cygpath -u "$temp")"; fi
root="$temp/tallyfy-groups"
bin_dir="$root/bin"
mkdir -p "$bin_dir"

exe=""
ext=tar.gz
case "${RUNNER_OS:-}/${RUNNER_ARCH:-}" in
    Linux/X64) target=x86_64-unknown-linux-musl ;;
    Linux/ARM64) target=aarch64-unknown-linux-musl ;;
    macOS/X64) target=x86_64-apple-darwin ;;
    macOS/ARM64) target=aarch64-apple-darwin ;;
    Windows/X64) target=x86_64-pc-windows-msvc exe=.exe ext=zip ;;
    *) target="" ;;
esac

fail() {
    echo "::error title=tallyfy-groups install::$1"
    exit 1
}

# Puts the binary on the job's PATH and shows its version.
installed() {
    echo "$1" > "$root/installed"
    if command -v cygpath > /dev/null; then cygpath -w "$bin_dir" >> "$GITHUB_PATH"; else echo "$bin_dir" >> "$GITHUB_PATH"; fi
    "$bin_dir/tallyfy-groups$exe" --version
}

from_source() {
    echo "::notice title=tallyfy-groups install::$1; building tallyfy-groups from this action's source (a few minutes)"
    command -v cargo > /dev/null ||
        fail "$1, and cargo is not installed to build it: add a Rust toolchain step (such as dtolnay/rust-toolchain@stable) before this action"
    cargo install --locked --path "$ACTION_PATH" --root "$root" --bin tallyfy-groups
    installed "$version"
}

sha256_of() {
    if command -v sha256sum > /dev/null; then sha256sum "$1"; else shasum -a 256 "$1"; fi | cut -d ' ' -f 1
}

# Downloads $1 into $2 and prints the HTTP status; fails only when there is no answer at all.
download() {
    curl --silent --show-error --location --retry 3 --connect-timeout 20 --max-time 600 \
        --output "$2" --write-out '%{http_code}' "$1"
}

if [ -x "$bin_dir/tallyfy-groups$exe" ] && [ "$(cat "$root/installed" 2> /dev/null)" = "$version" ]; then
    echo "tallyfy-groups $version is already installed in this job"
    installed "$version"
    exit 0
fi
if [ "$version" = source ]; then
    from_source "version: source"
    exit 0
fi
case "$version" in
    v[0-9]*) ;;
    *) fail "version must be a release tag such as v0.1.0, or source; not '$version'" ;;
esac
if [ -z "$target" ]; then
    from_source "no release binary is built for ${RUNNER_OS:-this OS}/${RUNNER_ARCH:-this architecture}"
    exit 0
fi

name="tallyfy-groups-$version-$target"
archive="$name.$ext"
work="$(mktemp -d "$temp/tallyfy-groups-download.XXXXXX")"
status="$(download "$base/$version/$archive" "$work/$archive")" || fail "could not download $base/$version/$archive"
case "$status" in
    200) ;;
    404)
        from_source "release $version has no $archive at $base (HTTP 404: not published yet?)"
        exit 0
        ;;
    *) fail "downloading $base/$version/$archive answered HTTP $status" ;;
esac
status="$(download "$base/$version/$archive.sha256" "$work/$archive.sha256")" || fail "could not download $archive.sha256"
[ "$status" = 200 ] || fail "no checksum for $archive (HTTP $status): refusing to install a binary that cannot be verified"
want="$(cut -d ' ' -f 1 < "$work/$archive.sha256" | tr 'A-F' 'a-f')"
got="$(sha256_of "$work/$archive")"
case "$want" in
    *[!0-9a-f]* | "") fail "$archive.sha256 does not hold a SHA-256" ;;
esac
[ "${#want}" = 64 ] || fail "$archive.sha256 does not hold a SHA-256"
[ "$want" = "$got" ] || fail "$archive does not match its published SHA-256 (expected $want, got $got): refusing to install it"
echo "$archive: SHA-256 $got verified"

# The SHA-256 came from the same place as the archive; the build provenance attestation is
# signed by the release workflow of INPUT_ATTESTATION_REPO, whatever served the bytes.
verify="${INPUT_VERIFY_ATTESTATION:-auto}"
attest_repo="${INPUT_ATTESTATION_REPO:-tallyfy-groups/tallyfy-groups}"
case "$verify" in
    auto | true | false) ;;
    *) fail "verify-attestation must be auto, true or false (got '$verify')" ;;
esac
if [ "$verify" != false ]; then
    if command -v gh > /dev/null; then
        if GH_TOKEN="${INPUT_GITHUB_TOKEN:-${GH_TOKEN:-}}" gh attestation verify "$work/$archive" --repo "$attest_repo" > "$work/attestation.log" 2>&1; then
            echo "$archive: build provenance verified (signed by $attest_repo's release workflow)"
        else
            sed 's/^/    /' "$work/attestation.log"
            fail "$archive has no valid build provenance attestation from $attest_repo: refusing to install it (set verify-attestation: false only for a build of your own)"
        fi
    elif [ "$verify" = true ]; then
        fail "verify-attestation is true, but the GitHub CLI (gh) is not on this runner: install it before this action"
    else
        echo "::notice title=tallyfy-groups install::the GitHub CLI (gh) is not on this runner: the build provenance was not verified (the SHA-256 was)"
    fi
fi

if [ "$ext" = zip ]; then
    (cd "$work" && unzip -q "$archive")
else
    tar -xzf "$work/$archive" -C "$work"
fi
[ -f "$work/$name/tallyfy-groups$exe" ] || fail "$archive does not contain $name/tallyfy-groups$exe"
cp "$work/$name/tallyfy-groups$exe" "$bin_dir/"
chmod 0755 "$bin_dir/tallyfy-groups$exe"
rm -rf "$work"
installed "$version"
