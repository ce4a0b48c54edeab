#!/usr/bin/env bash
# Step 2 of the GitHub Action (action.yml): runs tallyfy-groups.
#
# validate always runs first, as annotations on the pull request's diff. `plan` then writes the
# markdown plan to the job summary and, on a pull request, to the pull request's one comment
# (edited in place); a plan that fails or is refused replaces that comment with the error, so
# no outdated plan stays up. `apply` applies the files (or INPUT_PLAN_FILE) and summarises the
# report. Outputs: exit-code, has-changes, plan-file, markdown-file, report-file.
set -uo pipefail

command="${INPUT_COMMAND:-plan}"
case "$command" in
    validate | plan | apply) ;;
    *)
        echo "::error title=tallyfy-groups::command must be validate, plan or apply, not '$command'"
        exit 1
        ;;
esac

temp="${RUNNER_TEMP:?RUNNER_TEMP is not set: run this as a GitHub Action}"
if command -v cygpath > /dev/null; then temp="$(cygpath -u "$temp")"; fi
out="$(mktemp -d "$temp/tallyfy-groups.XXXXXX")"
marker="<!-- tallyfy-groups plan -->"

if [ -n "${INPUT_TALLYFY_TOKEN:-}" ]; then export TALLYFY_ACCESS_TOKEN="$INPUT_TALLYFY_TOKEN"; fi
if [ -n "${INPUT_TALLYFY_CLIENT_ID:-}" ]; then export TALLYFY_CLIENT_ID="$INPUT_TALLYFY_CLIENT_ID"; fi
if [ -n "${INPUT_TALLYFY_CLIENT_SECRET:-}" ]; then export TALLYFY_CLIENT_SECRET="$INPUT_TALLYFY_CLIENT_SECRET"; fi
if [ -n "${INPUT_ORG:-}" ]; then export TALLYFY_ORG_ID="$INPUT_ORG"; fi
if [ -n "${INPUT_NOTIFY:-}" ]; then export TALLYFY_GROUPS_NOTIFY_URL="$INPUT_NOTIFY"; fi

# `files` given empty: the targets of the workspace file (tallyfy-groups.yaml here or in a parent
# folder up to the repository root), or groups.yaml when there is none.
workspace_dir=""
has_workspace() {
    local d="$PWD"
    while :; do
        if [ -f "$d/tallyfy-groups.yaml" ]; then
            workspace_dir="$d"
            return 0
        fi
        if [ -e "$d/.git" ] || [ "$d" = / ]; then return 1; fi
        d="$(dirname "$d")"
    done
}
# The items of a list input: one per line when it spans several lines (spaces inside an item
# kept, blank lines skipped), else split on white space. Never globbed.
list_items() {
    local item words
    case "$1" in
        *$'\n'*)
            while IFS= read -r item; do
                item="${item#"${item%%[![:space:]]*}"}"
                item="${item%"${item##*[![:space:]]}"}"
                [ -n "$item" ] && printf '%s\n' "$item"
            done <<< "$1"
            ;;
        *)
            read -r -a words <<< "$1"
            for item in ${words[@]+"${words[@]}"}; do printf '%s\n' "$item"; done
            ;;
    esac
}
files=()
while IFS= read -r f; do files+=("$f"); done < <(list_items "${INPUT_FILES-groups.yaml}")
workspace=false
if [ "${#files[@]}" -eq 0 ]; then
    if has_workspace; then workspace=true; else files=(groups.yaml); fi
fi
file_args=()
for f in ${files[@]+"${files[@]}"}; do file_args+=(-f "$f"); done
if [ "$workspace" = true ]; then what_files="the workspace's targets"; else what_files="${files[*]}"; fi
extra=()
while IFS= read -r a; do extra+=("$a"); done < <(list_items "${INPUT_ARGS:-}")
allow=()
if [ -n "${INPUT_ALLOW_REMOVALS:-}" ]; then allow=(--allow-removals "$INPUT_ALLOW_REMOVALS"); fi

on_pull_request() { [ -n "${PR_NUMBER:-}" ]; }

html_escape() { sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g'; }

output() { echo "$1=$2" >> "$GITHUB_OUTPUT"; }

run_link() {
    if [ -n "${GITHUB_RUN_ID:-}" ]; then
        echo "[The run's log](${GITHUB_SERVER_URL:-https://github.com}/${GITHUB_REPOSITORY:-}/actions/runs/$GITHUB_RUN_ID) has the details."
    fi
}

# The markdown shown when a command failed: what failed, and the end of its log.
failure() { # TITLE LOG
    echo "### $1"
    echo
    echo "<pre>"
    tail -n 60 "$2" | html_escape
    echo "</pre>"
    echo
    run_link
}

# Posts FILE as the pull request's comment; returns 1 if that failed.
comment() {
    on_pull_request && [ "${INPUT_COMMENT:-true}" = true ] || return 0
    local args=(comment github --repo "${GITHUB_REPOSITORY:?}" --pr "$PR_NUMBER" --body-file "$1")
    if [ -n "${PR_HEAD_SHA:-}" ]; then args+=(--commit "$PR_HEAD_SHA"); fi
    if [ -n "${INPUT_COMMENT_KEY:-}" ]; then args+=(--key "$INPUT_COMMENT_KEY"); fi
    if [ -n "${INPUT_COMMENT_AUTHOR:-}" ]; then args+=(--author "$INPUT_COMMENT_AUTHOR"); fi
    if ! GITHUB_TOKEN="${INPUT_GITHUB_TOKEN:-}" tallyfy-groups "${args[@]}"; then
        echo "::error title=tallyfy-groups::could not update the pull request's comment (see above); it may show an outdated plan"
        return 1
    fi
}

# The base branch's version of every file given, for `plan --baseline`: a file the base branch
# does not have yet is left out, and when it has none of them the baseline is an empty file
# (no groups yet), so every change counts as introduced by the pull request.
baseline_args=()
make_baseline() {
    local ref="origin/$GITHUB_BASE_REF" dir="$out/baseline" f rel kind mode type _ name
    if ! git rev-parse --verify --quiet "$ref^{commit}" > /dev/null; then
        git fetch --no-tags --depth=1 origin "+refs/heads/$GITHUB_BASE_REF:refs/remotes/$ref" || true
    fi
    if ! git rev-parse --verify --quiet "$ref^{commit}" > /dev/null; then
        echo "::warning title=tallyfy-groups::cannot read the base branch $GITHUB_BASE_REF; planning without a baseline (check out with fetch-depth: 0)"
        return 0
    fi
    mkdir -p "$dir"
    if [ "$workspace" = true ]; then
        # A checkout of the base branch: each target's files are read at the same paths there,
        # relative to the workspace file's folder (which may be above the working directory).
        local prefix
        prefix="$(cd "$workspace_dir" && git rev-parse --show-prefix)"
        if git worktree add --quiet --detach "$dir/checkout" "$ref" > /dev/null 2>&1; then
            mkdir -p "$dir/checkout/$prefix"
            baseline_args=(--baseline "$dir/checkout/$prefix")
        else
            echo "::warning title=tallyfy-groups::cannot check out the base branch $GITHUB_BASE_REF; planning without a baseline"
        fi
        return 0
    fi
    for f in "${files[@]}"; do
        rel="${f#./}"
        rel="${rel%/}"
        kind="$(git cat-file -t "$ref:./$rel" 2> /dev/null)" || kind=""
        case "$kind" in
            blob)
                mkdir -p "$dir/$(dirname "$rel")"
                git show "$ref:./$rel" > "$dir/$rel"
                baseline_args+=(--baseline "$dir/$rel")
                ;;
            tree)
                mkdir -p "$dir/$rel"
                while IFS=$'\t' read -r mode name; do
                    read -r _ type _ <<< "$mode"
                    case "$type:$name" in
                        blob:*.yaml | blob:*.yml) git show "$ref:./$rel/$name" > "$dir/$rel/$name" ;;
                    esac
                done < <(git ls-tree "$ref:./$rel")
                if compgen -G "$dir/$rel/*.y*ml" > /dev/null; then baseline_args+=(--baseline "$dir/$rel"); fi
                ;;
        esac
    done
    if [ "${#baseline_args[@]}" -eq 0 ]; then
        echo "The base branch $GITHUB_BASE_REF has none of $what_files yet: every change is new in this pull request."
        : > "$dir/empty.yaml"
        baseline_args=(--baseline "$dir/empty.yaml")
    fi
}

# 1. validate: mistakes show on the pull request's diff.
if [ "$command" != apply ] || [ -z "${INPUT_PLAN_FILE:-}" ]; then
    tallyfy-groups validate ${file_args[@]+"${file_args[@]}"} --format github 2> "$out/validate.log"
    code=$?
    cat "$out/validate.log" >&2
    if [ "$code" != 0 ] || [ "$command" = validate ]; then
        output exit-code "$code"
        output has-changes false
        if [ "$code" != 0 ]; then
            failure "groups.yaml is invalid (tallyfy-groups $command, exit $code)" "$out/validate.log" > "$out/failure.md"
            cat "$out/failure.md" >> "$GITHUB_STEP_SUMMARY"
            if [ "$command" = plan ]; then comment "$out/failure.md" || true; fi
        else
            echo "tallyfy-groups validate: $what_files valid." >> "$GITHUB_STEP_SUMMARY"
        fi
        exit "$code"
    fi
fi

if [ "$command" = plan ]; then
    plan_file="$out/plan.json"
    md="$out/plan.md"
    if on_pull_request && [ "${INPUT_BASELINE:-true}" = true ] && [ -n "${GITHUB_BASE_REF:-}" ]; then make_baseline; fi
    tallyfy-groups plan ${file_args[@]+"${file_args[@]}"} ${baseline_args[@]+"${baseline_args[@]}"} ${allow[@]+"${allow[@]}"} \
        ${extra[@]+"${extra[@]}"} --format markdown --out "$plan_file" --detailed-exitcode > "$md" 2> "$out/plan.log"
    code=$?
    if [ -d "$out/baseline/checkout" ]; then git worktree remove --force "$out/baseline/checkout" > /dev/null 2>&1 || true; fi
    cat "$md"
    cat "$out/plan.log" >&2
    body="$out/comment.md"
    case "$code" in
        0 | 2) cp "$md" "$body" ;;
        3)
            {
                cat "$md"
                echo
                failure "The plan was refused (exit 3): apply would refuse it too" "$out/plan.log"
            } > "$body"
            ;;
        *)
            {
                failure "The plan failed (exit $code)" "$out/plan.log"
                if [ -s "$md" ]; then
                    echo
                    echo "The plan of every group that could be planned:"
                    echo
                    grep -v -x -F "$marker" "$md"
                fi
            } > "$body"
            ;;
    esac
    cat "$body" >> "$GITHUB_STEP_SUMMARY"
    commented=0
    comment "$body" || commented=1
    case "$code" in 2 | 3) changes=true ;; *) changes=false ;; esac
    output exit-code "$code"
    output has-changes "$changes"
    if [ "$code" != 1 ] && [ -s "$plan_file" ]; then output plan-file "$plan_file"; else output plan-file ""; fi
    output markdown-file "$md"
    case "$code" in
        0) status=0 ;;
        2) if [ "${INPUT_FAIL_ON_CHANGES:-false}" = true ]; then status=2; else status=0; fi ;;
        *) status="$code" ;;
    esac
    if [ "$status" = 0 ] && [ "$commented" != 0 ]; then status=1; fi
    exit "$status"
fi

# apply
report="$out/report.json"
if [ -n "${INPUT_PLAN_FILE:-}" ]; then what=("$INPUT_PLAN_FILE"); else what=(${file_args[@]+"${file_args[@]}"}); fi
tallyfy-groups apply ${what[@]+"${what[@]}"} ${allow[@]+"${allow[@]}"} ${extra[@]+"${extra[@]}"} --auto-approve --report "$report" \
    > "$out/apply.txt" 2> "$out/apply.log"
code=$?
cat "$out/apply.txt"
cat "$out/apply.log" >&2
{
    echo "### Tallyfy groups apply (exit $code)"
    echo
    echo "<pre>"
    html_escape < "$out/apply.txt"
    echo "</pre>"
    if [ "$code" != 0 ]; then
        echo
        failure "The apply failed (exit $code)" "$out/apply.log"
    fi
} >> "$GITHUB_STEP_SUMMARY"
if [ -s "$report" ] && grep -q '"index"' "$report"; then changes=true; else changes=false; fi
output exit-code "$code"
output has-changes "$changes"
if [ -s "$report" ]; then output report-file "$report"; else output report-file ""; fi
exit "$code"
