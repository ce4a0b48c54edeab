//! A serde deserializer over one item of a groups.yaml file (a marked-yaml node) that reports
//! every problem it meets with its location instead of stopping at the first: a value of the
//! wrong shape (the [`Field`](super::raw::Field) around it is then left without a value) and an
//! unknown key (with a "did you mean" drawn from the fields serde expects). It serves
//! marked-yaml's `Spanned<T>`, so every value of the grammar knows where it was written.
//! Pure; no I/O.

use std::cell::RefCell;
use std::fmt;
use std::sync::{Arc, OnceLock};

use marked_yaml::types::MarkedScalarNode;
use marked_yaml::{Node, Span, Spanned};
use serde::de::value::{BorrowedStrDeserializer, UsizeDeserializer};
use serde::de::{self, DeserializeSeed, EnumAccess, IgnoredAny, MapAccess, SeqAccess, VariantAccess, Visitor};
use serde::{Deserialize, forward_to_deserialize_any};

use super::{Diagnostic, Location};

/// Where the problems of one file are collected, in the order they are found.
pub(crate) struct Problems {
    file: Arc<str>,
    found: RefCell<Vec<Diagnostic>>,
}

impl Problems {
    pub(crate) fn new(file: Arc<str>) -> Self {
        Problems { file, found: RefCell::new(Vec::new()) }
    }

    /// The location a span starts at.
    pub(crate) fn loc(&self, span: &Span) -> Location {
        let (line, column) = span.start().map(|m| (m.line(), m.column())).unwrap_or((1, 1));
        Location { file: self.file.clone(), line, column }
    }

    pub(crate) fn push(&self, d: Diagnostic) {
        self.found.borrow_mut().push(d);
    }

    pub(crate) fn error(&self, span: &Span, message: impl Into<String>) {
        self.push(Diagnostic::at(&self.loc(span), message));
    }

    pub(crate) fn error_hint(&self, span: &Span, message: impl Into<String>, hint: impl Into<String>) {
        self.push(Diagnostic::at(&self.loc(span), message).with_hint(hint));
    }

    pub(crate) fn into_vec(self) -> Vec<Diagnostic> {
        self.found.into_inner()
    }
}

/// Deserialises `T` from `node`, reporting problems to `problems`; `what` names the value in
/// messages ("a group", or the key it is written under).
pub(crate) fn from_node<'a, T: Deserialize<'a>>(node: &'a Node, what: What<'a>, problems: &'a Problems) -> Option<T> {
    T::deserialize(NodeDe { node, what, problems }).ok()
}

/// How a value is named in a message.
#[derive(Debug, Clone, Copy)]
pub(crate) enum What<'a> {
    /// The value of a key: "`members` must be a list".
    Key(&'a str),
    /// An item of a list under a key: "an item of `members` must be a single value".
    ItemOf(&'a str),
    /// A value with a name of its own: "a group must be a mapping".
    Named(&'static str),
}

impl What<'_> {
    fn item(self) -> Self {
        match self {
            What::Key(k) | What::ItemOf(k) => What::ItemOf(k),
            What::Named(n) => What::Named(n),
        }
    }
}

impl fmt::Display for What<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            What::Key(k) => write!(f, "`{k}`"),
            What::ItemOf(k) => write!(f, "an item of `{k}`"),
            What::Named(n) => f.write_str(n),
        }
    }
}

/// A problem on its way up to the nearest `Field`; `reported` once it is in [`Problems`].
#[derive(Debug)]
pub(crate) struct Error {
    message: String,
    hint: Option<String>,
    reported: bool,
}

impl Error {
    fn new(message: impl Into<String>) -> Self {
        Error { message: message.into(), hint: None, reported: false }
    }

    fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error::new(msg.to_string())
    }

    fn invalid_type(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        Error::new(format!("must be {exp}, found {unexp}"))
    }

    fn invalid_value(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        Error::new(format!("must be {exp}, found {unexp}"))
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        Error::new(format!("must be {}, found `{variant}`", one_of(expected)))
    }

    fn missing_field(field: &'static str) -> Self {
        Error::new(format!("needs `{field}`"))
    }
}

/// "`a`, `b`, `c`".
fn quoted(names: &[&str]) -> String {
    names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
}

/// "`a`", "`a` or `b`", "`a`, `b` or `c`".
fn one_of(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    match quoted.split_last() {
        None => "nothing".into(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

/// Plain `~`, `null` or nothing: no value. A quoted "null" is the text null.
fn is_null(s: &MarkedScalarNode) -> bool {
    s.may_coerce() && matches!(s.as_str(), "" | "~" | "null" | "Null" | "NULL")
}

fn kind(node: &Node) -> &'static str {
    match node {
        Node::Scalar(_) => "a scalar",
        Node::Mapping(_) => "a mapping",
        Node::Sequence(_) => "a list",
    }
}

/// The name and fields that marked-yaml's `Spanned<T>` asks its deserializer for, learned from
/// marked-yaml itself: `fields` are the span's start (source, character, line, column), its end
/// (the same four) and the inner value.
fn spanned_shape() -> (&'static str, &'static [&'static str]) {
    static SHAPE: OnceLock<(&'static str, &'static [&'static str])> = OnceLock::new();
    *SHAPE.get_or_init(|| shape_of::<Spanned<IgnoredAny>>().unwrap_or(("", &[])))
}

/// The struct name and fields a type's `Deserialize` asks for (`None` for a type that is not a
/// struct): for the grammar's types, the keys serde expects.
pub(super) fn shape_of<'de, T: Deserialize<'de>>() -> Option<(&'static str, &'static [&'static str])> {
    struct Probe;
    #[derive(Debug)]
    struct Found(Option<(&'static str, &'static [&'static str])>);
    impl fmt::Display for Found {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("probe")
        }
    }
    impl std::error::Error for Found {}
    impl de::Error for Found {
        fn custom<M: fmt::Display>(_: M) -> Self {
            Found(None)
        }
    }
    impl<'de> de::Deserializer<'de> for Probe {
        type Error = Found;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Found> {
            Err(Found(None))
        }
        fn deserialize_struct<V: Visitor<'de>>(self, name: &'static str, fields: &'static [&'static str], _: V) -> Result<V::Value, Found> {
            Err(Found(Some((name, fields))))
        }
        forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
            unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
        }
    }
    match T::deserialize(Probe) {
        Err(Found(shape)) => shape,
        Ok(_) => None,
    }
}

/// The deserializer of one node.
#[derive(Clone, Copy)]
struct NodeDe<'a> {
    node: &'a Node,
    what: What<'a>,
    problems: &'a Problems,
}

impl<'a> NodeDe<'a> {
    fn at(self, node: &'a Node, what: What<'a>) -> Self {
        NodeDe { node, what, problems: self.problems }
    }

    /// Records a problem of this value (once) and passes it on.
    fn report(self, mut e: Error) -> Error {
        if !e.reported {
            let mut d = Diagnostic::at(&self.problems.loc(self.node.span()), format!("{} {}", self.what, e.message));
            d.hint = e.hint.take();
            self.problems.push(d);
            e.reported = true;
        }
        e
    }

    fn fail<T>(self, e: Error) -> Result<T, Error> {
        Err(self.report(e))
    }

    /// The scalar of this node, or the problem "must be {expected}" ("is empty", with a hint to
    /// write one, for no value at all).
    fn scalar(self, expected: &str, empty_hint: Option<&str>) -> Result<&'a MarkedScalarNode, Error> {
        match self.node {
            Node::Scalar(s) if is_null(s) => {
                let e = Error::new("is empty");
                self.fail(match empty_hint {
                    Some(h) => e.hint(h),
                    None => e,
                })
            }
            Node::Scalar(s) => Ok(s),
            other => self.fail(Error::new(format!("must be {expected}, found {}", kind(other)))),
        }
    }

    /// A plain scalar parsed as a number, or the problem "must be {expected}".
    fn number<N: std::str::FromStr>(self, expected: &str) -> Result<N, Error> {
        let s = self.scalar(expected, Some(&format!("write {expected}")))?;
        match s.as_str().parse::<N>() {
            Ok(n) if s.may_coerce() => Ok(n),
            Ok(_) => self.fail(Error::new(format!("must be {expected}, found `{}`", s.as_str())).hint("write the number without quotes")),
            Err(_) => self.fail(Error::new(format!("must be {expected}, found `{}`", s.as_str()))),
        }
    }
}

impl<'de> de::Deserializer<'de> for NodeDe<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let r = match self.node {
            Node::Scalar(s) => visitor.visit_borrowed_str(s.as_str()),
            Node::Sequence(items) => visitor.visit_seq(Items { de: self, items: items.iter() }),
            Node::Mapping(map) => visitor.visit_map(Entries::new(self, map.iter(), None)),
        };
        r.map_err(|e| self.report(e))
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let s = self.scalar("true or false", Some("write true or false"))?;
        match s.as_bool() {
            Some(b) => visitor.visit_bool(b).map_err(|e| self.report(e)),
            None => {
                self.fail(Error::new(format!("must be true or false, found `{}`", s.as_str())).hint("write true or false without quotes"))
            }
        }
    }

    fn deserialize_i8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_i64(visitor)
    }

    fn deserialize_i16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_i64(visitor)
    }

    fn deserialize_i32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_i64(visitor)
    }

    fn deserialize_i64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let n = self.number::<i64>("a whole number")?;
        visitor.visit_i64(n).map_err(|e| self.report(e))
    }

    fn deserialize_u8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_u64(visitor)
    }

    fn deserialize_u16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_u64(visitor)
    }

    fn deserialize_u32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_u64(visitor)
    }

    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let n = self.number::<u64>("a whole number")?;
        visitor.visit_u64(n).map_err(|e| self.report(e))
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let n = self.number::<f64>("a number")?;
        visitor.visit_f64(n).map_err(|e| self.report(e))
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let s = self.scalar("a single value", None)?;
        visitor.visit_borrowed_str(s.as_str()).map_err(|e| self.report(e))
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    /// A value that is written is never `None`: a key written with nothing after it is a value
    /// that is empty, reported where the type asks for something.
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _: &'static str, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.node {
            Node::Sequence(items) => visitor.visit_seq(Items { de: self, items: items.iter() }).map_err(|e| self.report(e)),
            Node::Scalar(s) if is_null(s) => self.fail(Error::new("is empty").hint("write `[]` for an empty list")),
            Node::Scalar(s) => {
                let e = Error::new("must be a list, found a scalar");
                let one = s.as_str().trim();
                // `members: alice@example.com`: one item written without the list around it.
                self.fail(if one.is_empty() { e } else { e.hint(format!("write `[{one}]`, or one `- {one}` per line")) })
            }
            other => self.fail(Error::new(format!("must be a list, found {}", kind(other)))),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _: usize, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(self, _: &'static str, _: usize, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.node {
            Node::Mapping(map) => visitor.visit_map(Entries::new(self, map.iter(), None)).map_err(|e| self.report(e)),
            Node::Scalar(s) if is_null(s) => visitor.visit_map(Entries::new(self, std::iter::empty(), None)).map_err(|e| self.report(e)),
            other => self.fail(Error::new(format!("must be a mapping, found {}", kind(other)))),
        }
    }

    /// A struct of the grammar: its keys are checked against its fields (each unknown key is
    /// reported, with the closest field); a key with nothing after it is an empty mapping.
    /// marked-yaml's `Spanned<T>` is served its span, then the value.
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        if name == spanned_shape().0 {
            return visitor.visit_map(SpanEntries::new(self, fields)).map_err(|e| self.report(e));
        }
        let map = match self.node {
            Node::Mapping(map) => map,
            Node::Scalar(s) if is_null(s) => {
                return visitor.visit_map(Entries::new(self, std::iter::empty(), None)).map_err(|e| self.report(e));
            }
            other => {
                return self.fail(
                    Error::new(format!("must be a mapping, found {}", kind(other)))
                        .hint(format!("write it as a mapping with the keys {}", quoted(fields))),
                );
            }
        };
        for key in map.keys() {
            if !fields.contains(&key.as_str()) {
                unknown_key(self.problems, key, fields, key_noun(name));
            }
        }
        visitor.visit_map(Entries::new(self, map.iter(), Some(fields))).map_err(|e| self.report(e))
    }

    /// An enum of the grammar: a scalar names its variant (`warn`); otherwise the variant named
    /// after the value's shape (`scalar`, `list`, `mapping`) holds the value.
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        const SHAPES: [(&str, &str); 3] = [("scalar", "a single value"), ("list", "a list"), ("mapping", "a mapping")];
        let shape = match self.node {
            Node::Scalar(s) if is_null(s) => {
                let by_shape = SHAPES.iter().any(|(shape, _)| variants.contains(shape));
                let e = Error::new("is empty");
                if let Some(hint) = empty_hint(name) {
                    return self.fail(e.hint(hint));
                }
                return self.fail(match (variants.contains(&"list"), by_shape) {
                    (true, _) => e.hint("write `[]` for an empty list"),
                    (false, false) => e.hint(format!("write {}", one_of(variants))),
                    (false, true) => e,
                });
            }
            Node::Scalar(s) if variants.contains(&s.as_str()) => s.as_str(),
            Node::Scalar(_) => "scalar",
            Node::Sequence(_) => "list",
            Node::Mapping(_) => "mapping",
        };
        if variants.contains(&shape) {
            return visitor.visit_enum(Variant { de: self, name: shape }).map_err(|e| self.report(e));
        }
        let shapes: Vec<&str> = SHAPES.iter().filter(|(s, _)| variants.contains(s)).map(|(_, words)| *words).collect();
        let message = match (shapes.split_last(), self.node) {
            (None, Node::Scalar(s)) => format!("must be {}, found `{}`", one_of(variants), s.as_str()),
            (None, other) => format!("must be {}, found {}", one_of(variants), kind(other)),
            (Some((last, [])), other) => format!("must be {last}, found {}", kind(other)),
            (Some((last, rest)), other) => format!("must be {} or {last}, found {}", rest.join(", "), kind(other)),
        };
        self.fail(Error::new(message))
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(self, _: &'static str, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    forward_to_deserialize_any! { i128 u128 bytes byte_buf }
}

/// Reports a key that `fields` does not have, with the closest one when it is close enough.
fn unknown_key(problems: &Problems, key: &MarkedScalarNode, fields: &[&str], noun: &str) {
    let k = key.as_str();
    let lower = k.to_lowercase();
    let best = fields
        .iter()
        .map(|cand| (strsim::levenshtein(&lower, cand), *cand))
        .min()
        .filter(|(d, cand)| *d <= 2.max(cand.len() / 3) && *d < cand.len().max(lower.len()));
    let expected = quoted(fields);
    let hint = match (best, noun, k) {
        (_, "guest key", "group") => {
            "`group:` is written under `members` only (it includes the members of another group); guests come from `guests` entries and sources".to_string()
        }
        (Some((_, cand)), ..) => format!("did you mean `{cand}`? expected one of {expected}"),
        (None, ..) => format!("expected one of {expected}"),
    };
    problems.error_hint(key.span(), format!("unknown {noun} `{k}`"), hint);
}

/// The items of a list.
struct Items<'a> {
    de: NodeDe<'a>,
    items: std::slice::Iter<'a, Node>,
}

impl<'de> SeqAccess<'de> for Items<'de> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, Error> {
        match self.items.next() {
            Some(node) => seed.deserialize(self.de.at(node, self.de.what.item())).map(Some),
            None => Ok(None),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

/// The entries of a mapping (the unknown keys left out, for a struct).
struct Entries<'a, I> {
    de: NodeDe<'a>,
    entries: I,
    fields: Option<&'static [&'static str]>,
    value: Option<(&'a str, &'a Node)>,
}

type Entry<'a> = (&'a MarkedScalarNode, &'a Node);

impl<'a, I: Iterator<Item = Entry<'a>>> Entries<'a, I> {
    /// The entries; with `fields`, only the keys among them.
    fn new(de: NodeDe<'a>, entries: I, fields: Option<&'static [&'static str]>) -> Self {
        Entries { de, entries, fields, value: None }
    }
}

impl<'de, I: Iterator<Item = Entry<'de>>> MapAccess<'de> for Entries<'de, I> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Error> {
        for (key, value) in self.entries.by_ref() {
            if self.fields.is_some_and(|f| !f.contains(&key.as_str())) {
                continue;
            }
            self.value = Some((key.as_str(), value));
            return seed.deserialize(BorrowedStrDeserializer::new(key.as_str())).map(Some);
        }
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        match self.value.take() {
            Some((key, node)) => seed.deserialize(self.de.at(node, What::Key(key))),
            None => Err(Error::new("a value was asked for before its key")),
        }
    }
}

/// What `Spanned<T>` reads: where the node starts, then the node itself.
struct SpanEntries<'a> {
    de: NodeDe<'a>,
    fields: &'static [&'static str],
    step: usize,
}

impl<'a> SpanEntries<'a> {
    fn new(de: NodeDe<'a>, fields: &'static [&'static str]) -> Self {
        // A node without a start (none is built so) is served as a value without a span.
        let step = if de.node.span().start().is_some() { 0 } else { 4 };
        SpanEntries { de, fields, step }
    }

    /// The field served at `step`: the four parts of the start, then (skipping the end) the value.
    fn field(&self) -> Option<&'static str> {
        match self.step {
            0..=3 => self.fields.get(self.step).copied(),
            4 => self.fields.get(8).copied(),
            _ => None,
        }
    }
}

impl<'de> MapAccess<'de> for SpanEntries<'de> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Error> {
        match self.field() {
            Some(f) => seed.deserialize(BorrowedStrDeserializer::new(f)).map(Some),
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let step = self.step;
        self.step += 1;
        let start = self.de.node.span().start();
        let part = |f: fn(&marked_yaml::Marker) -> usize| start.map(f).unwrap_or_default();
        match step {
            0 => seed.deserialize(UsizeDeserializer::new(part(marked_yaml::Marker::source))),
            1 => seed.deserialize(UsizeDeserializer::new(part(marked_yaml::Marker::character))),
            2 => seed.deserialize(UsizeDeserializer::new(part(marked_yaml::Marker::line))),
            3 => seed.deserialize(UsizeDeserializer::new(part(marked_yaml::Marker::column))),
            _ => seed.deserialize(self.de),
        }
    }
}

/// The variant an enum value selects, holding the node.
struct Variant<'a> {
    de: NodeDe<'a>,
    name: &'a str,
}

impl<'de> EnumAccess<'de> for Variant<'de> {
    type Error = Error;
    type Variant = NodeDe<'de>;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, NodeDe<'de>), Error> {
        seed.deserialize(BorrowedStrDeserializer::new(self.name)).map(|v| (v, self.de))
    }
}

impl<'de> VariantAccess<'de> for NodeDe<'de> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _: usize, visitor: V) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_seq(self, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(self, fields: &'static [&'static str], visitor: V) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_struct(self, "", fields, visitor)
    }
}

// The words for the grammar's types (crates/core/src/desired/raw.rs, and the workspace file's).

/// What a key of each mapping type is called in messages ("unknown group key `member`"); the
/// workspace file's types (`crate::workspace`) are named here too.
fn key_noun(type_name: &str) -> &'static str {
    match type_name {
        "RawFile" | "RawWorkspace" => "top-level key",
        "RawSettings" => "setting",
        "RawGroup" => "group key",
        "RawNamedGuest" => "guest key",
        "RawMemberEntry" => "member key",
        "RawSource" => "source key",
        "RawCsv" => "`csv` key",
        "RawLdap" => "`ldap` key",
        "RawOkta" => "`okta` key",
        "RawEntra" => "`entra` key",
        "RawGoogle" => "`google` key",
        "RawScim" => "`scim` key",
        "RawTarget" => "target key",
        _ => "key",
    }
}

/// What a workspace target's `files` needs (the workspace file's grammar shares this reader).
pub(crate) const FILES_HINT: &str = "list the groups.yaml files or directories this target manages, e.g. `files: [groups/]`";

/// What to write instead of an empty value of an enum type whose empty list is no better than
/// no value (by default the hint is "write `[]` for an empty list").
fn empty_hint(type_name: &str) -> Option<&'static str> {
    match type_name {
        "RawPaths" => Some(FILES_HINT),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::raw::{RawGroup, RawNamedGuest};

    #[test]
    fn spanned_is_served_its_start() {
        let (name, fields) = spanned_shape();
        assert!(!name.is_empty() && fields.len() == 9, "marked-yaml's Spanned changed shape: {name} {fields:?}");
        let node = marked_yaml::parse_yaml(0, "other: 1\nb:\n  - x\n  - yy\n").expect("yaml");
        let problems = Problems::new(Arc::from("t.yaml"));
        #[derive(Deserialize)]
        struct T {
            b: Vec<Spanned<String>>,
        }
        let t: T = from_node(&node, What::Named("t"), &problems).expect("t");
        let at: Vec<(usize, usize, &str)> =
            t.b.iter().map(|s| s.span().start().map(|m| (m.line(), m.column(), s.as_str())).unwrap_or_default()).collect();
        assert_eq!(at, vec![(3, 5, "x"), (4, 5, "yy")]);
        let d = problems.into_vec();
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].to_string(), "t.yaml:1:1: unknown key `other`\n    hint: expected one of `b`");
    }

    #[test]
    fn keys_come_from_serde() {
        assert_eq!(
            shape_of::<RawGroup>().map(|s| s.1),
            Some(&["name", "description", "members", "guests", "previously", "absent", "sync", "keep", "external", "review"][..])
        );
        assert_eq!(shape_of::<RawNamedGuest>().map(|s| s.1), Some(&["email", "first_name", "last_name", "source", "until", "reason"][..]));
        assert_eq!(shape_of::<String>(), None);
    }
}
