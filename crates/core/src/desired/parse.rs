//! Reading one groups.yaml file: its text as YAML events (yaml-rust2, the parser under
//! marked-yaml), each item of `groups:` built as a marked-yaml node, read into the grammar's
//! types (`raw.rs`, through `de.rs`) and validated, then dropped, so that a large file is never
//! held whole in memory; the rest of the top level is read as one `RawFile`. Every problem is
//! collected with its location. The same reader serves the workspace file
//! (`tallyfy-groups.yaml`, [`read_document`]), which is small and read whole. Pure; no I/O.

use std::str::Chars;
use std::sync::Arc;

use marked_yaml::types::{MarkedMappingNode, MarkedScalarNode, MarkedSequenceNode};
use marked_yaml::{Marker, Node, Span};
use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{ScanError, TScalarStyle};

use super::de::{self, Problems, What};
use super::raw::{Field, RawFile, RawGroup};
use super::validate::{self, ParsedFile};
use super::{Diagnostic, Location, Source};

/// Deepest nesting the loader accepts; groups.yaml needs four levels.
const MAX_DEPTH: usize = 64;

/// The kind of file being read: what its messages call it and tell the user to write.
pub(crate) struct Kind {
    /// The file's usual name ("groups.yaml").
    pub name: &'static str,
    /// The key the top level must have.
    pub top_key: &'static str,
    /// How to start an empty file.
    pub empty_hint: &'static str,
    /// The levels the file needs.
    pub depth_hint: &'static str,
    /// What to do with a second document.
    pub documents_hint: &'static str,
}

/// groups.yaml.
const GROUPS: Kind = Kind {
    name: "groups.yaml",
    top_key: "groups",
    empty_hint: "start it with `groups:` followed by a list of groups",
    depth_hint: "groups.yaml needs only four levels: groups → group → members → member",
    documents_hint: "merge the documents into one `groups:` list, or put each in its own file of a directory passed with -f",
};

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
    let text = precheck(&file, text, &GROUPS)?;
    let problems = Problems::new(file.clone());
    let read = guarded(&file, || Reader::new(text, &problems, false).document())?;
    match read {
        Ok(parsed) => Ok((parsed, problems.into_vec())),
        Err(fatal) => Err(vec![fatal.diagnostic(&file, &GROUPS)]),
    }
}

/// A key written twice in the same mapping, found by [`read_document`].
#[derive(Debug)]
pub(crate) struct DuplicateKey {
    pub key: String,
    /// The keys leading to the mapping (empty for the top level).
    pub path: Vec<String>,
    /// Where it is written the second time.
    pub at: Location,
    pub first_line: usize,
}

/// Reads a whole small document of the given kind (the workspace file) as one marked-yaml
/// node, with the checks of groups.yaml (one document, no anchors, aliases or tags, not too
/// deep, a mapping at the top). A key written twice is not fatal here: it is returned, with the
/// path to its mapping, and its second value is left out. `Err`: the file could not be read.
pub(crate) fn read_document(file: &Arc<str>, text: &str, kind: &Kind) -> Result<(Node, Vec<DuplicateKey>), Vec<Diagnostic>> {
    let text = precheck(file, text, kind)?;
    let problems = Problems::new(file.clone());
    let read = guarded(file, || {
        let mut reader = Reader::new(text, &problems, true);
        reader.whole().map(|node| (node, std::mem::take(&mut reader.duplicates)))
    })?;
    let (node, duplicates) = read.map_err(|fatal| vec![fatal.diagnostic(file, kind)])?;
    let duplicates =
        duplicates.into_iter().map(|d| DuplicateKey { key: d.key, path: d.path, at: loc(file, &d.at), first_line: d.first_line }).collect();
    Ok((node, duplicates))
}

/// The text without its byte-order mark, once it is known not to be empty, too deep or several
/// documents (each of which is the file's only message).
fn precheck<'t>(file: &Arc<str>, text: &'t str, kind: &Kind) -> Result<&'t str, Vec<Diagnostic>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() || lines(text).all(|l| l.trim().is_empty() || l.trim_start().starts_with('#')) {
        let at = Location { file: file.clone(), line: 1, column: 1 };
        return Err(vec![Diagnostic::at(&at, "the file is empty").with_hint(kind.empty_hint)]);
    }
    if let Some((line, column)) = too_deep(text) {
        let at = Location { file: file.clone(), line, column };
        return Err(vec![Diagnostic::at(&at, format!("the document nests deeper than {MAX_DEPTH} levels")).with_hint(kind.depth_hint)]);
    }
    if let Some(line) = second_document(text) {
        let at = Location { file: file.clone(), line, column: 1 };
        return Err(vec![
            Diagnostic::at(&at, format!("a second YAML document starts here; {} must be a single document", kind.name))
                .with_hint(kind.documents_hint),
        ]);
    }
    Ok(text)
}

/// Runs a read. The YAML parser has assertions of its own; should one fail on some stream, that
/// must be an error for this file, not a crash.
fn guarded<T>(file: &Arc<str>, read: impl FnOnce() -> T) -> Result<T, Vec<Diagnostic>> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(read)).map_err(|_| {
        let at = Location { file: file.clone(), line: 1, column: 1 };
        vec![
            Diagnostic::at(&at, "the YAML parser could not read this file")
                .with_hint("check it with a YAML linter; use one document without anchors, aliases or tags"),
        ]
    })
}

fn loc(file: &Arc<str>, m: &Marker) -> Location {
    Location { file: file.clone(), line: m.line(), column: m.column() }
}

/// A problem after which the rest of the file cannot be read: it is the file's only message.
#[derive(Debug)]
enum Fatal {
    Syntax(Marker, ScanError),
    TopNotMapping(Marker),
    Anchor(Marker),
    Tag(Marker),
    KeyNotScalar(Marker),
    DuplicateKey { key: String, at: Marker, first_line: usize },
    Unreadable(Marker),
}

impl Fatal {
    fn diagnostic(&self, file: &Arc<str>, kind: &Kind) -> Diagnostic {
        let loc = |m: &Marker| loc(file, m);
        match self {
            Fatal::TopNotMapping(m) => Diagnostic::at(&loc(m), format!("expected a mapping with `{}:` at the top level", kind.top_key)),
            Fatal::Anchor(m) => Diagnostic::at(&loc(m), "YAML anchors and aliases are not supported")
                .with_hint("write the values out; anchors make reviews of access changes harder"),
            Fatal::KeyNotScalar(m) => Diagnostic::at(&loc(m), "a mapping key must be a plain string"),
            Fatal::Tag(m) => Diagnostic::at(&loc(m), "YAML tags (`!tag`) are not supported"),
            Fatal::Syntax(m, err) => Diagnostic::at(&loc(m), format!("YAML syntax error: {}", err.info()))
                .with_hint("check indentation and quoting near this spot"),
            Fatal::DuplicateKey { key, at, first_line } => {
                Diagnostic::at(&loc(at), format!("duplicate key `{key}` (first written on line {first_line})"))
            }
            Fatal::Unreadable(m) => Diagnostic::at(&loc(m), "the YAML parser could not read this file")
                .with_hint("check it with a YAML linter; use one document without anchors, aliases or tags"),
        }
    }
}

/// Reads a document's events, building marked-yaml nodes the way marked-yaml's loader does
/// (plain scalars may be typed, quoted ones are text; no anchors, aliases, tags or duplicate
/// keys), one item of `groups:` at a time.
struct Reader<'t> {
    parser: Parser<Chars<'t>>,
    problems: &'t Problems,
    /// A small document read whole (the workspace file): duplicate keys are collected in
    /// `duplicates` (with the path of keys to their mapping, kept in `path`) instead of ending
    /// the read, and a key written with no value has that empty value located at the key.
    collect: bool,
    path: Vec<String>,
    duplicates: Vec<FoundDuplicate>,
}

/// A duplicate key as the reader finds it.
#[derive(Debug)]
struct FoundDuplicate {
    key: String,
    path: Vec<String>,
    at: Marker,
    first_line: usize,
}

impl<'t> Reader<'t> {
    /// `collect`: duplicate keys are collected rather than fatal.
    fn new(text: &'t str, problems: &'t Problems, collect: bool) -> Self {
        Reader { parser: Parser::new_from_str(text), problems, collect, path: Vec::new(), duplicates: Vec::new() }
    }

    fn next(&mut self) -> Result<(Event, Marker), Fatal> {
        match self.parser.next_token() {
            Ok((ev, m)) => Ok((ev, marker(&m))),
            Err(e) => Err(Fatal::Syntax(marker(e.marker()), e)),
        }
    }

    /// The first event of the document's content: a mapping's start, or the stream's end.
    fn top(&mut self) -> Result<(Event, Marker), Fatal> {
        let (mut ev, mut at) = self.next()?;
        while matches!(ev, Event::StreamStart | Event::DocumentStart) {
            (ev, at) = self.next()?;
        }
        if has_tag(&ev) {
            return Err(Fatal::Tag(at));
        }
        if anchored(&ev) {
            return Err(Fatal::Anchor(at));
        }
        if !matches!(ev, Event::MappingStart(..) | Event::StreamEnd) {
            return Err(Fatal::TopNotMapping(at));
        }
        Ok((ev, at))
    }

    /// The whole document as one node: its top-level mapping (empty for an empty stream).
    fn whole(&mut self) -> Result<Node, Fatal> {
        let (ev, at) = self.top()?;
        if ev == Event::StreamEnd {
            return Ok(Node::from(MarkedMappingNode::new_empty(Span::new_start(at))));
        }
        self.node(ev, at)
    }

    /// The whole document: the top-level mapping, its `groups:` read item by item.
    fn document(mut self) -> Result<ParsedFile, Fatal> {
        let (ev, at) = self.top()?;
        let mut out = ParsedFile::default();
        let mut top = MarkedMappingNode::new_empty(Span::new_start(at));
        let mut settings_key = None;
        if ev != Event::StreamEnd {
            loop {
                let (ev, at) = self.next()?;
                if ev == Event::MappingEnd {
                    break;
                }
                let Some(key) = self.key(ev, at, &top)? else { continue };
                if key.as_str() == "settings" {
                    settings_key = Some(*key.span());
                }
                let (ev, at) = self.next()?;
                let value = if key.as_str() == RawFile::STREAMED_KEY && ev == Event::SequenceStart(0, None) {
                    self.groups(at, &mut out.groups)?
                } else {
                    self.node(ev, at)?
                };
                insert(&mut top, key, value);
            }
        }
        let top = Node::from(top);
        if let Some(raw) = de::from_node::<RawFile>(&top, What::Named("the file"), self.problems) {
            out.settings = validate::file(self.problems, &raw, top.span(), settings_key.as_ref());
            let names = source_names(&top);
            out.source_names = names.keys().cloned().collect();
            out.sources = validate::sources(self.problems, &raw, &names);
        }
        Ok(out)
    }

    /// The items of `groups:`, each read, validated and dropped; what is left in the tree is an
    /// empty list where the items were.
    fn groups(&mut self, at: Marker, groups: &mut Vec<super::DesiredGroup>) -> Result<Node, Fatal> {
        loop {
            let (ev, item_at) = self.next()?;
            if ev == Event::SequenceEnd {
                return Ok(Node::from(MarkedSequenceNode::new_empty(Span::new_start(at))));
            }
            let item = self.node(ev, item_at)?;
            if let Some(raw) = de::from_node::<Field<RawGroup>>(&item, What::Named("a group"), self.problems)
                && let Some(group) = validate::group(self.problems, &raw)
            {
                groups.push(group);
            }
        }
    }

    /// A mapping key: a scalar not yet in `map`. When duplicates are collected, a key already
    /// in `map` is recorded, its value read and dropped, and `None` returned.
    fn key(&mut self, ev: Event, at: Marker, map: &MarkedMappingNode) -> Result<Option<MarkedScalarNode>, Fatal> {
        let key = match self.node(ev, at)? {
            Node::Scalar(key) => key,
            _ => return Err(Fatal::KeyNotScalar(at)),
        };
        if let Some((first, _)) = map.get_key_value(&key) {
            let first_line = first.span().start().map(Marker::line).unwrap_or_default();
            if !self.collect {
                return Err(Fatal::DuplicateKey { key: key.as_str().to_string(), at, first_line });
            }
            self.duplicates.push(FoundDuplicate { key: key.as_str().to_string(), path: self.path.clone(), at, first_line });
            let (ev, at) = self.next()?;
            self.node(ev, at)?;
            return Ok(None);
        }
        Ok(Some(key))
    }

    /// The node that starts with `ev`.
    fn node(&mut self, ev: Event, at: Marker) -> Result<Node, Fatal> {
        if has_tag(&ev) {
            return Err(Fatal::Tag(at));
        }
        if anchored(&ev) {
            return Err(Fatal::Anchor(at));
        }
        match ev {
            Event::Scalar(text, style, ..) => {
                let mut node = MarkedScalarNode::new(Span::new_start(at), text);
                node.set_coerce(matches!(style, TScalarStyle::Plain));
                Ok(Node::from(node))
            }
            Event::SequenceStart(..) => {
                let mut items = Vec::new();
                loop {
                    let (ev, at) = self.next()?;
                    if ev == Event::SequenceEnd {
                        break;
                    }
                    items.push(self.node(ev, at)?);
                }
                Ok(Node::from(MarkedSequenceNode::new(Span::new_start(at), items)))
            }
            Event::MappingStart(..) => {
                let mut map = MarkedMappingNode::new_empty(Span::new_start(at));
                loop {
                    let (ev, at) = self.next()?;
                    if ev == Event::MappingEnd {
                        break;
                    }
                    let Some(key) = self.key(ev, at, &map)? else { continue };
                    let (ev, at) = self.next()?;
                    if self.collect {
                        self.path.push(key.as_str().to_string());
                    }
                    let value = self.node(ev, at);
                    if self.collect {
                        self.path.pop();
                    }
                    let mut value = value?;
                    if self.collect
                        && let Node::Scalar(s) = &mut value
                        && s.may_coerce()
                        && s.as_str().is_empty()
                    {
                        // Nothing after the key: the parser marks the empty value where the
                        // next token starts, often the next line; the key is where to look.
                        s.span_mut().set_start(key.span().start().copied());
                    }
                    insert(&mut map, key, value);
                }
                Ok(Node::from(map))
            }
            _ => Err(Fatal::Unreadable(at)),
        }
    }
}

/// Where each name under `sources:` is written (a name is where its source is defined).
fn source_names(top: &Node) -> std::collections::HashMap<String, Span> {
    let Some(sources) = top.as_mapping().and_then(|m| m.get_mapping("sources")) else { return Default::default() };
    sources.keys().map(|k| (k.as_str().to_string(), *k.span())).collect()
}

/// Adds an entry. A block mapping's start event is marked where its first value begins; a
/// reader looks for it where its first key is, so the mapping starts at the earlier of the two.
fn insert(map: &mut MarkedMappingNode, key: MarkedScalarNode, value: Node) {
    if map.is_empty()
        && let (Some(k), Some(m)) = (key.span().start(), map.span().start())
        && k.character() < m.character()
    {
        map.span_mut().set_start(Some(*k));
    }
    map.insert(key, value);
}

fn marker(m: &yaml_rust2::scanner::Marker) -> Marker {
    Marker::new(0, m.index(), m.line(), m.col() + 1)
}

fn anchored(ev: &Event) -> bool {
    matches!(ev, Event::Alias(_))
        || matches!(ev, Event::Scalar(_, _, a, _) | Event::SequenceStart(a, _) | Event::MappingStart(a, _) if *a != 0)
}

fn has_tag(ev: &Event) -> bool {
    matches!(ev, Event::Scalar(_, _, _, Some(_)) | Event::SequenceStart(_, Some(_)) | Event::MappingStart(_, Some(_)))
}

/// The lines of a text as YAML breaks them: at a CR, an LF or a CRLF (`str::lines` knows only LF
/// and CRLF, but the parser takes a bare CR for a line break too, and every pre-scan and location
/// must agree with it). Like `str::lines`, a final break does not start an empty last line.
pub(crate) fn lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = (!text.is_empty()).then_some(text);
    std::iter::from_fn(move || {
        let t = rest?;
        let Some(end) = t.find(['\r', '\n']) else {
            rest = None;
            return Some(t);
        };
        let next = if t[end..].starts_with("\r\n") { end + 2 } else { end + 1 };
        rest = (next < t.len()).then(|| &t[next..]);
        Some(&t[..end])
    })
}

/// 1-based line and column just after `prefix`, a CR, an LF and a CRLF each ending a line.
fn line_col(prefix: &[u8]) -> (usize, usize) {
    let breaks = prefix.iter().enumerate().filter(|&(i, &b)| b == b'\r' || (b == b'\n' && (i == 0 || prefix[i - 1] != b'\r'))).count();
    let column = prefix.iter().rev().take_while(|&&b| b != b'\n' && b != b'\r').count() + 1;
    (breaks + 1, column)
}

/// The line where a second document starts, if any. The parser reads only the first document,
/// so anything after it would be dropped silently. A document marker (`---`, `...`) can only
/// stand at the start of a line, so a line scan (breaking lines where the parser does) finds
/// every one.
fn second_document(text: &str) -> Option<usize> {
    let marker = |line: &str, m: &str| line.strip_prefix(m).is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t']));
    let mut content = false;
    let mut ended = false;
    for (i, line) in lines(text).enumerate() {
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
    for (i, line) in lines(text).enumerate() {
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
