//! Parsing one groups.yaml file with a span-preserving YAML parser (marked-yaml) and checking
//! its shape: keys, types and per-item rules. Every problem is collected with its location.
//! Pure; no I/O.

use std::collections::HashMap;
use std::sync::Arc;

use marked_yaml::types::{MarkedMappingNode, MarkedScalarNode, MarkedSequenceNode};
use marked_yaml::{LoadError, LoaderOptions, Node, Span};

use super::{DesiredGroup, Diagnostic, GuestName, Located, Location, MemberRef, Settings, Source};
use crate::model::{Email, UserId};

const TOP_KEYS: &[&str] = &["settings", "groups"];
const SETTINGS_KEYS: &[&str] =
    &["prune", "ignore", "default_description", "max_deleted_groups", "max_removed_ratio", "min_removed_for_ratio", "disabled_members"];
/// The keys a group entry may have.
pub const KNOWN_GROUP_KEYS: &[&str] = &["name", "description", "members", "guests", "previously", "absent"];
/// Keys of a guest written as a mapping.
pub const KNOWN_GUEST_KEYS: &[&str] = &["email", "first_name", "last_name"];
const MAX_NAME_CHARS: usize = 200;
/// Deepest nesting the loader accepts; groups.yaml needs four levels.
const MAX_DEPTH: usize = 64;

/// What one file contributes before the files are merged.
#[derive(Debug, Default)]
pub(super) struct ParsedFile {
    pub settings: Option<(Settings, Location)>,
    pub groups: Vec<DesiredGroup>,
}

struct Ctx {
    file: Arc<str>,
    diags: Vec<Diagnostic>,
}

impl Ctx {
    fn loc(&self, span: &Span) -> Location {
        let (line, column) = span.start().map(|m| (m.line(), m.column())).unwrap_or((1, 1));
        Location { file: self.file.clone(), line, column }
    }

    fn error(&mut self, span: &Span, message: impl Into<String>) {
        let at = self.loc(span);
        self.diags.push(Diagnostic::at(&at, message));
    }

    fn error_hint(&mut self, span: &Span, message: impl Into<String>, hint: impl Into<String>) {
        let at = self.loc(span);
        self.diags.push(Diagnostic::at(&at, message).with_hint(hint));
    }
}

/// Parses one file; `Err` when the file could not be parsed at all.
pub(super) fn parse_file(source: Source) -> Result<(ParsedFile, Vec<Diagnostic>), Vec<Diagnostic>> {
    let file: Arc<str> = Arc::from(source.name.as_str());
    let text = match std::str::from_utf8(&source.bytes) {
        Ok(t) => t,
        Err(e) => {
            let (line, column) = line_col(&source.bytes[..e.valid_up_to()]);
            let at = Location { file, line, column };
            return Err(vec![Diagnostic::at(&at, "the file is not valid UTF-8").with_hint("save it as UTF-8 text")]);
        }
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() || text.lines().all(|l| l.trim().is_empty() || l.trim_start().starts_with('#')) {
        let at = Location { file, line: 1, column: 1 };
        return Err(vec![Diagnostic::at(&at, "the file is empty").with_hint("start it with `groups:` followed by a list of groups")]);
    }
    if let Some((line, column)) = too_deep(text) {
        let at = Location { file, line, column };
        return Err(vec![
            Diagnostic::at(&at, format!("the document nests deeper than {MAX_DEPTH} levels"))
                .with_hint("groups.yaml needs only four levels: groups → group → members → member"),
        ]);
    }
    if let Some(line) = second_document(text) {
        let at = Location { file, line, column: 1 };
        return Err(vec![
            Diagnostic::at(&at, "a second YAML document starts here; groups.yaml must be a single document")
                .with_hint("merge the documents into one `groups:` list, or put each in its own file of a directory passed with -f"),
        ]);
    }
    // Quoted scalars are strings: `name: "null"` is the name null, not an empty value.
    let options = LoaderOptions::default().error_on_duplicate_keys(true).prevent_coercion(true);
    // marked-yaml asserts on a few malformed streams; a panic there must become an error.
    let parsed = std::panic::catch_unwind(|| marked_yaml::parse_yaml_with_options(0, text, options));
    drop(source); // the tree owns its strings; the text is no longer needed
    let root = match parsed {
        Ok(Ok(root)) => root,
        Ok(Err(e)) => return Err(vec![syntax_error(&file, &e)]),
        Err(_) => {
            let at = Location { file, line: 1, column: 1 };
            return Err(vec![
                Diagnostic::at(&at, "the YAML parser could not read this file")
                    .with_hint("check it with a YAML linter; use one document without anchors, aliases or tags"),
            ]);
        }
    };
    let mut cx = Ctx { file, diags: Vec::new() };
    let mut out = ParsedFile::default();
    let Some(top) = root.as_mapping() else {
        cx.error(root.span(), "expected a mapping with `groups:` at the top level");
        return Err(cx.diags);
    };
    check_keys(&mut cx, top, TOP_KEYS, "top-level key");
    if let Some(node) = top.get_node("settings")
        && let Some(s) = parse_settings(&mut cx, node)
    {
        let key = top.keys().find(|k| k.as_str() == "settings").map(|k| k.span()).unwrap_or(node.span());
        out.settings = Some((s, cx.loc(key)));
    }
    match top.get_node("groups") {
        None => cx.error_hint(top.span(), "missing `groups:`", "add `groups:` with a list of groups (it may be `groups: []`)"),
        Some(node) => {
            if let Some(seq) = seq(&mut cx, node, "`groups`") {
                for item in seq.iter() {
                    if let Some(g) = parse_group(&mut cx, item) {
                        out.groups.push(g);
                    }
                }
            }
        }
    }
    if cx.diags.is_empty() {
        // Cross-check against the serde types the JSON Schema is generated from, one item at a
        // time so that a large file is never held twice.
        let mut checks: Vec<(&Node, Result<(), String>)> = Vec::new();
        if let Some(n) = top.get_node("settings").filter(|n| n.as_mapping().is_some()) {
            checks.push((n, marked_yaml::from_node::<super::raw::RawSettings>(n).map(drop).map_err(|e| e.to_string())));
        }
        for item in top.get_sequence("groups").map(|s| s.iter()).into_iter().flatten() {
            checks.push((item, marked_yaml::from_node::<super::raw::RawGroup>(item).map(drop).map_err(|e| e.to_string())));
        }
        for (node, result) in checks {
            if let Err(e) = result {
                cx.error(node.span(), format!("this does not match the groups.yaml schema: {e}"));
            }
        }
    }
    Ok((out, cx.diags))
}

fn syntax_error(file: &Arc<str>, e: &LoadError) -> Diagnostic {
    let loc = |m: &marked_yaml::Marker| Location { file: file.clone(), line: m.line(), column: m.column() };
    let first = Location { file: file.clone(), line: 1, column: 1 };
    match e {
        LoadError::TopLevelMustBeMapping(m) => Diagnostic::at(&loc(m), "expected a mapping with `groups:` at the top level"),
        LoadError::TopLevelMustBeSequence(m) => Diagnostic::at(&loc(m), "unexpected top-level sequence"),
        LoadError::UnexpectedAnchor(m) => Diagnostic::at(&loc(m), "YAML anchors and aliases are not supported")
            .with_hint("write the values out; anchors make reviews of access changes harder"),
        LoadError::MappingKeyMustBeScalar(m) => Diagnostic::at(&loc(m), "a mapping key must be a plain string"),
        LoadError::UnexpectedTag(m) => Diagnostic::at(&loc(m), "YAML tags (`!tag`) are not supported"),
        LoadError::ScanError(m, err) => {
            Diagnostic::at(&loc(m), format!("YAML syntax error: {}", err.info())).with_hint("check indentation and quoting near this spot")
        }
        LoadError::DuplicateKey(inner) => {
            let at = inner.key.span().start().map(loc).unwrap_or(first);
            let prev = inner.prev_key.span().start().map(|m| format!("line {}", m.line())).unwrap_or_default();
            Diagnostic::at(&at, format!("duplicate key `{}` (first written on {prev})", inner.key.as_str()))
        }
    }
}

/// 1-based line and column just after `prefix`.
fn line_col(prefix: &[u8]) -> (usize, usize) {
    let line = prefix.iter().filter(|&&b| b == b'\n').count() + 1;
    let column = prefix.iter().rev().take_while(|&&b| b != b'\n').count() + 1;
    (line, column)
}

/// The line where a second document starts, if any. The parser reads only the first document,
/// so anything after it would be dropped silently. A document marker (`---`, `...`) can only
/// stand at the start of a line, so a line scan finds every one.
fn second_document(text: &str) -> Option<usize> {
    let marker = |line: &str, m: &str| line.strip_prefix(m).is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t']));
    let mut content = false;
    let mut ended = false;
    for (i, line) in text.lines().enumerate() {
        if marker(line, "---") {
            if content || ended {
                return Some(i + 1);
            }
            let rest = line[3..].trim();
            content = !rest.is_empty() && !rest.starts_with('#');
            continue;
        }
        if marker(line, "...") {
            ended = true;
            continue;
        }
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || (!content && line.starts_with('%')) {
            continue;
        }
        if ended {
            return Some(i + 1);
        }
        content = true;
    }
    None
}

/// A cheap pre-scan that refuses pathologically nested documents before the parser builds them.
fn too_deep(text: &str) -> Option<(usize, usize)> {
    let mut depth = 0usize;
    for (i, line) in text.lines().enumerate() {
        let indent = line.len() - line.trim_start_matches([' ', '-']).len();
        if indent / 2 > MAX_DEPTH * 2 {
            return Some((i + 1, indent + 1));
        }
        for (col, c) in line.char_indices() {
            match c {
                '[' | '{' => {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return Some((i + 1, col + 1));
                    }
                }
                ']' | '}' => depth = depth.saturating_sub(1),
                '#' => break,
                _ => {}
            }
        }
    }
    None
}

fn check_keys(cx: &mut Ctx, map: &MarkedMappingNode, known: &[&str], what: &str) {
    for key in map.keys() {
        let k = key.as_str();
        if known.contains(&k) {
            continue;
        }
        let best = known
            .iter()
            .map(|cand| (strsim::levenshtein(&k.to_lowercase(), cand), *cand))
            .min()
            .filter(|(d, cand)| *d <= 2.max(cand.len() / 3));
        let expected = known.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ");
        match best {
            Some((_, cand)) => {
                cx.error_hint(key.span(), format!("unknown {what} `{k}`"), format!("did you mean `{cand}`? expected one of {expected}"))
            }
            None => cx.error_hint(key.span(), format!("unknown {what} `{k}`"), format!("expected one of {expected}")),
        }
    }
}

fn kind(node: &Node) -> &'static str {
    match node {
        Node::Scalar(_) => "a scalar",
        Node::Mapping(_) => "a mapping",
        Node::Sequence(_) => "a list",
    }
}

fn is_null(s: &MarkedScalarNode) -> bool {
    s.may_coerce() && matches!(s.as_str(), "" | "~" | "null" | "Null" | "NULL")
}

fn seq<'a>(cx: &mut Ctx, node: &'a Node, what: &str) -> Option<&'a MarkedSequenceNode> {
    match node {
        Node::Sequence(s) => Some(s),
        Node::Scalar(s) if is_null(s) => {
            cx.error_hint(node.span(), format!("{what} is empty"), "write `[]` for an empty list");
            None
        }
        other => {
            cx.error(other.span(), format!("{what} must be a list, found {}", kind(other)));
            None
        }
    }
}

fn scalar<'a>(cx: &mut Ctx, node: &'a Node, what: &str) -> Option<&'a MarkedScalarNode> {
    match node {
        Node::Scalar(s) => Some(s),
        other => {
            cx.error(other.span(), format!("{what} must be a single value, found {}", kind(other)));
            None
        }
    }
}

fn string(cx: &mut Ctx, node: &Node, what: &str) -> Option<String> {
    let s = scalar(cx, node, what)?;
    if is_null(s) {
        cx.error(node.span(), format!("{what} is empty"));
        return None;
    }
    Some(s.as_str().to_string())
}

fn boolean(cx: &mut Ctx, node: &Node, what: &str) -> Option<bool> {
    let s = scalar(cx, node, what)?;
    let v = s.as_bool();
    if v.is_none() {
        cx.error_hint(node.span(), format!("{what} must be true or false, found `{}`", s.as_str()), "write true or false without quotes");
    }
    v
}

fn parse_settings(cx: &mut Ctx, node: &Node) -> Option<Settings> {
    let map = match node {
        Node::Mapping(m) => m,
        Node::Scalar(s) if is_null(s) => return Some(Settings::default()),
        other => {
            cx.error(other.span(), format!("`settings` must be a mapping, found {}", kind(other)));
            return None;
        }
    };
    check_keys(cx, map, SETTINGS_KEYS, "setting");
    let mut s = Settings::default();
    if let Some(n) = map.get_node("prune") {
        s.prune = boolean(cx, n, "`prune`").unwrap_or(false);
    }
    if let Some(n) = map.get_node("ignore") {
        let items: Vec<&Node> = match n {
            Node::Scalar(_) => vec![n],
            _ => seq(cx, n, "`ignore`").map(|q| q.iter().collect()).unwrap_or_default(),
        };
        for item in items {
            if let Some(p) = string(cx, item, "an `ignore` pattern") {
                match glob::Pattern::new(&p) {
                    Err(e) => cx.error_hint(
                        item.span(),
                        format!("`{p}` is not a valid glob: {}", e.msg),
                        "use `*` for any text, `?` for one character, `[abc]` for a set",
                    ),
                    Ok(pattern) => s.ignore.push(Located { value: pattern, at: cx.loc(item.span()) }),
                }
            }
        }
    }
    if let Some(n) = map.get_node("default_description")
        && let Some(d) = string(cx, n, "`default_description`")
    {
        if d.trim().is_empty() {
            cx.error(n.span(), "`default_description` is empty; Tallyfy requires a non-empty description");
        } else {
            s.default_description = Some(d);
        }
    }
    if let Some(n) = map.get_node("max_deleted_groups")
        && let Some(v) = scalar(cx, n, "`max_deleted_groups`")
    {
        match v.as_str().parse::<usize>() {
            Ok(k) => s.max_deleted_groups = k,
            Err(_) => cx.error(n.span(), format!("`max_deleted_groups` must be a whole number, found `{}`", v.as_str())),
        }
    }
    if let Some(n) = map.get_node("disabled_members")
        && let Some(v) = scalar(cx, n, "`disabled_members`")
    {
        match v.as_str() {
            "warn" => s.disabled_members = super::DisabledMembers::Warn,
            "error" => s.disabled_members = super::DisabledMembers::Error,
            other => cx.error(n.span(), format!("`disabled_members` must be `warn` or `error`, found `{other}`")),
        }
    }
    if let Some(n) = map.get_node("min_removed_for_ratio")
        && let Some(v) = scalar(cx, n, "`min_removed_for_ratio`")
    {
        match v.as_str().parse::<usize>() {
            Ok(k) => s.min_removed_for_ratio = k,
            Err(_) => cx.error(n.span(), format!("`min_removed_for_ratio` must be a whole number, found `{}`", v.as_str())),
        }
    }
    if let Some(n) = map.get_node("max_removed_ratio")
        && let Some(v) = scalar(cx, n, "`max_removed_ratio`")
    {
        match v.as_str().parse::<f64>() {
            Ok(r) if (0.0..=1.0).contains(&r) => s.max_removed_ratio = r,
            _ => cx.error(n.span(), format!("`max_removed_ratio` must be a number from 0 to 1, found `{}`", v.as_str())),
        }
    }
    Some(s)
}

fn parse_group(cx: &mut Ctx, node: &Node) -> Option<DesiredGroup> {
    let map = match node {
        Node::Mapping(m) => m,
        other => {
            cx.error_hint(
                other.span(),
                format!("a group must be a mapping, found {}", kind(other)),
                "write `- name: Group name` and its keys indented below",
            );
            return None;
        }
    };
    check_keys(cx, map, KNOWN_GROUP_KEYS, "group key");
    // A block mapping's own span starts oddly; its first key is where a reader looks.
    let at = cx.loc(map.keys().next().map(|k| k.span()).unwrap_or(map.span()));
    let name = match map.get_node("name") {
        None => {
            cx.diags.push(Diagnostic::at(&at, "a group has no `name`"));
            None
        }
        Some(n) => {
            string(cx, n, "`name`").and_then(|v| check_name(cx, n.span(), v, "name")).map(|v| Located { value: v, at: cx.loc(n.span()) })
        }
    };
    let description = map.get_node("description").and_then(|n| {
        let v = string(cx, n, "`description`")?;
        if v.trim().is_empty() {
            cx.error_hint(
                n.span(),
                "`description` is empty; Tallyfy requires a non-empty description",
                "write a description, or remove the key to leave it unmanaged",
            );
            return None;
        }
        Some(Located { value: v, at: cx.loc(n.span()) })
    });
    let members = map.get_node("members").map(|n| parse_members(cx, n));
    let mut guest_names = std::collections::BTreeMap::new();
    let guests = map.get_node("guests").map(|n| parse_guests(cx, n, &mut guest_names));
    let previously = map.get_node("previously").map(|n| parse_previously(cx, n)).unwrap_or_default();
    let absent = map.get_node("absent").and_then(|n| boolean(cx, n, "`absent`")).unwrap_or(false);
    if absent {
        for key in ["description", "members", "guests", "previously"] {
            if let Some(n) = map.get_node(key) {
                cx.error_hint(
                    n.span(),
                    format!("an `absent: true` group cannot have `{key}`"),
                    format!("remove `{key}`, or remove `absent: true` to keep the group"),
                );
            }
        }
    }
    Some(DesiredGroup { name: name?, description, members, guests, guest_names, previously, absent, at })
}

fn check_name(cx: &mut Ctx, span: &Span, v: String, what: &str) -> Option<String> {
    if v.trim().is_empty() {
        cx.error(span, format!("`{what}` is empty"));
        return None;
    }
    if v.trim() != v {
        cx.error_hint(span, format!("`{what}` \"{v}\" has leading or trailing spaces"), "remove the spaces; Tallyfy trims names");
        return None;
    }
    let n = v.chars().count();
    if n > MAX_NAME_CHARS {
        cx.error(span, format!("`{what}` is {n} characters long; Tallyfy allows at most {MAX_NAME_CHARS}"));
        return None;
    }
    Some(v)
}

/// An item that could not be read: the message, and a hint.
type ItemError = (String, &'static str);

/// A list of members or guests: each item parsed by `item`, duplicates reported where they repeat.
fn parse_list<T: Clone + Eq + std::hash::Hash + std::fmt::Display>(
    cx: &mut Ctx,
    node: &Node,
    what: &str,
    item: impl Fn(&str) -> Result<T, ItemError>,
) -> Vec<Located<T>> {
    let mut out = Vec::new();
    let Some(items) = seq(cx, node, &format!("`{what}s`")) else { return out };
    let mut seen: HashMap<T, usize> = HashMap::new();
    let label = format!("a {what}");
    for node in items.iter() {
        let Some(raw) = string(cx, node, &label) else { continue };
        let value = match item(raw.trim()) {
            Ok(v) => v,
            Err((message, hint)) => {
                cx.error_hint(node.span(), message, hint);
                continue;
            }
        };
        let at = cx.loc(node.span());
        if let Some(first) = seen.get(&value) {
            cx.error(node.span(), format!("{what} {value} is listed twice in this group (first on line {first})"));
            continue;
        }
        seen.insert(value.clone(), at.line);
        out.push(Located { value, at });
    }
    out
}

fn parse_members(cx: &mut Ctx, node: &Node) -> Vec<Located<MemberRef>> {
    parse_list(cx, node, "member", |raw| {
        if !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()) {
            return raw
                .parse::<u64>()
                .map(|id| MemberRef::Id(UserId(id)))
                .map_err(|_| (format!("member `{raw}` is not a valid user id"), "user ids are whole numbers"));
        }
        Email::parse(raw).map(MemberRef::Email).map_err(|why| {
            (
                format!("member `{raw}` is not an email address or a user id: it {why}"),
                "list members by email (preferred) or numeric user id",
            )
        })
    })
}

/// Guests: each an email, or `{email, first_name, last_name}` (the names are used when the guest is
/// invited). Names found go to `names`.
fn parse_guests(cx: &mut Ctx, node: &Node, names: &mut std::collections::BTreeMap<Email, GuestName>) -> Vec<Located<Email>> {
    let parse = |raw: &str| {
        Email::parse(raw)
            .map_err(|why| (format!("guest `{raw}` is not an email address: it {why}"), "guests are external people, listed by email"))
    };
    let Node::Sequence(items) = node else { return parse_list(cx, node, "guest", parse) };
    if !items.iter().any(|n| matches!(n, Node::Mapping(_))) {
        return parse_list(cx, node, "guest", parse);
    }
    let mut out: Vec<Located<Email>> = Vec::new();
    for item in items.iter() {
        let (email_node, name) = match item {
            Node::Mapping(m) => {
                check_keys(cx, m, KNOWN_GUEST_KEYS, "guest key");
                let Some(e) = m.get_node("email") else {
                    cx.error_hint(
                        item.span(),
                        "a guest written as a mapping needs `email`",
                        "write `{email: a@example.com, first_name: Ann, last_name: Lee}`",
                    );
                    continue;
                };
                let text = |cx: &mut Ctx, key: &str| {
                    m.get_node(key).and_then(|n| string(cx, n, &format!("`{key}`"))).map(|s| s.trim().to_string())
                };
                let first_name = text(cx, "first_name");
                let last_name = text(cx, "last_name");
                (e, (first_name.is_some() || last_name.is_some()).then_some(GuestName { first_name, last_name }))
            }
            other => (other, None),
        };
        let Some(raw) = string(cx, email_node, "a guest") else { continue };
        let value = match parse(raw.trim()) {
            Ok(v) => v,
            Err((message, hint)) => {
                cx.error_hint(email_node.span(), message, hint);
                continue;
            }
        };
        let at = cx.loc(email_node.span());
        if let Some(first) = out.iter().find(|g| g.value == value) {
            cx.error(email_node.span(), format!("guest {value} is listed twice in this group (first on line {})", first.at.line));
            continue;
        }
        if let Some(name) = name {
            names.insert(value.clone(), name);
        }
        out.push(Located { value, at });
    }
    out
}

fn parse_previously(cx: &mut Ctx, node: &Node) -> Vec<Located<String>> {
    let items: Vec<&Node> = match node {
        Node::Scalar(s) if !is_null(s) => vec![node],
        _ => seq(cx, node, "`previously`").map(|q| q.iter().collect()).unwrap_or_default(),
    };
    items
        .into_iter()
        .filter_map(|item| {
            let v = string(cx, item, "a `previously` name")?;
            let v = check_name(cx, item.span(), v, "previously")?;
            Some(Located { value: v, at: cx.loc(item.span()) })
        })
        .collect()
}
