//! Renderers: the plan as terminal text, a pull-request comment (markdown) or JSON, and the
//! apply report. They read only the plan (or report) and return strings. Pure; no I/O.

pub mod json;
pub mod markdown;
pub mod text;

use similar::{ChangeTag, TextDiff};

/// Line diff of two descriptions: `(tag, line)` pairs, `tag` one of `-`, `+`, ` `.
pub fn description_diff(before: &str, after: &str) -> Vec<(char, String)> {
    let diff = TextDiff::from_lines(before, after);
    diff.iter_all_changes()
        .map(|c| {
            let tag = match c.tag() {
                ChangeTag::Delete => '-',
                ChangeTag::Insert => '+',
                ChangeTag::Equal => ' ',
            };
            (tag, c.value().trim_end_matches(['\n', '\r']).to_string())
        })
        .collect()
}

/// "1 group" / "2 groups".
pub fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
