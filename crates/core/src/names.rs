//! How names read to a person: characters that print nothing or move other text (controls, bidi
//! overrides, zero-width characters), letters that look like others, and the escaped form in
//! which text from Tallyfy is shown in the text and markdown renderings. Pure; no I/O.

use std::borrow::Cow;

/// Characters that print nothing, or reorder or hide the text around them: zero-width
/// characters, bidi embeddings, overrides and isolates, fillers, variation selectors and tags.
pub fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{17B4}'
            | '\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E007F}'
            | '\u{E0100}'..='\u{E01EF}'
    )
}

/// Whether a character must be escaped to be shown safely: controls (which can start terminal
/// escape sequences or line breaks), invisible characters, and every white space but the plain
/// space (a no-break space looks like a space but is not one).
fn needs_escape(c: char) -> bool {
    c.is_control() || is_invisible(c) || (c.is_whitespace() && c != ' ')
}

/// The text with every control, invisible and unusual space character written as `\n`, `\t` or
/// `\u{…}`, so that it shows on one line, exactly as many characters as it holds, and cannot
/// forge or reorder the output around it.
///
/// ```
/// use tallyfy_groups_core::names::visible;
/// assert_eq!(visible("Ops"), "Ops");
/// assert_eq!(visible("x\nNo changes.\u{202E}"), "x\\nNo changes.\\u{202e}");
/// ```
pub fn visible(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// The text with every line escaped as [`visible`] does, its line breaks kept: for a message of
/// this tool's own that spans lines (`…\n    hint: …`) on a terminal or in a CI log, where text
/// from outside must have been escaped with [`visible`] already. Nothing in it can move the
/// cursor, erase or overwrite a line, or reorder the text around it.
///
/// ```
/// use tallyfy_groups_core::names::visible_lines;
/// assert_eq!(visible_lines("failed: \u{1b}[2K\rx\n    hint: y"), "failed: \\u{1b}[2K\\rx\n    hint: y");
/// ```
pub fn visible_lines(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| c != '\n' && needs_escape(c)) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(text.split('\n').map(visible).collect::<Vec<_>>().join("\n"))
}

/// What a name looks like, for finding names that differ only by invisible characters, spacing,
/// case or look-alike letters: compatibility-normalised (NFKC), invisible characters and white
/// space removed, common look-alikes (Cyrillic and Greek letters, full-width forms, dashes,
/// quotes) mapped to ASCII, then keyed as group names are ([`crate::model::name_key`]), the dot
/// above a lower-case `i` or `j` dropped. Names that are one group therefore look alike too.
///
/// ```
/// use tallyfy_groups_core::names::skeleton;
/// assert_eq!(skeleton("S\u{0430}les\u{200B}  Team"), skeleton("sales team"));
/// assert_eq!(skeleton("SalesTeam"), skeleton("Sales Team"));
/// assert_ne!(skeleton("Sales Teams"), skeleton("Sales Team"));
/// ```
pub fn skeleton(name: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let shown: String = name.nfkc().filter(|&c| !is_invisible(c) && !c.is_whitespace() && !c.is_control()).map(look_alike).collect();
    let key = crate::model::name_key(&shown);
    let mut out = String::with_capacity(key.len());
    for c in key.chars().filter(|c| !c.is_whitespace()) {
        // `İ` folds to `i` and a combining dot, which shows as a plain `i`.
        if c == '\u{307}' && out.ends_with(['i', 'j']) {
            continue;
        }
        out.push(c);
    }
    out
}

/// The ASCII character a look-alike stands for, or the character itself.
fn look_alike(c: char) -> char {
    match c {
        // Full-width ASCII.
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c),
        '\u{3000}' => ' ',
        // Cyrillic.
        'А' | 'а' => 'a',
        'В' => 'B',
        'Е' | 'е' | 'Ё' | 'ё' => 'e',
        'К' | 'к' => 'k',
        'М' | 'м' => 'm',
        'Н' | 'н' => 'H',
        'О' | 'о' => 'o',
        'Р' | 'р' => 'p',
        'С' | 'с' => 'c',
        'Т' | 'т' => 'T',
        'У' | 'у' | 'Ү' | 'ү' => 'y',
        'Х' | 'х' => 'x',
        'Ѕ' | 'ѕ' => 's',
        'І' | 'і' | 'Ӏ' => 'i',
        'ӏ' => 'l',
        'Ј' | 'ј' => 'j',
        'Һ' | 'һ' => 'h',
        'ԁ' => 'd',
        'Ԛ' | 'ԛ' => 'q',
        'Ԝ' | 'ԝ' => 'w',
        // Greek.
        'Α' | 'α' => 'a',
        'Β' => 'B',
        'Ε' => 'E',
        'Ζ' => 'Z',
        'Η' => 'H',
        'Ι' | 'ι' => 'i',
        'Κ' | 'κ' => 'k',
        'Μ' => 'M',
        'Ν' => 'N',
        'ν' => 'v',
        'Ο' | 'ο' => 'o',
        'Ρ' | 'ρ' => 'p',
        'Τ' => 'T',
        'Υ' | 'υ' => 'y',
        'Χ' | 'χ' => 'x',
        // Latin look-alikes.
        'ı' => 'i',
        'ℓ' => 'l',
        // Punctuation.
        '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{FE58}' | '\u{FE63}' => '-',
        '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}' | '\u{2032}' => '\'',
        '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{2033}' => '"',
        '\u{2024}' => '.',
        '\u{2044}' | '\u{2215}' => '/',
        c => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visible_lines_keeps_only_the_line_breaks() {
        assert_eq!(visible_lines("a\n    hint: b"), Cow::Borrowed("a\n    hint: b"));
        assert_eq!(visible_lines("a\r\n\u{202e}b\t\n"), "a\\r\n\\u{202e}b\\t\n");
    }

    #[test]
    fn visible_escapes_what_could_forge_or_hide_output() {
        assert_eq!(visible("Sales Team"), Cow::Borrowed("Sales Team"));
        assert_eq!(visible("Équipe d'été"), "Équipe d'été");
        assert_eq!(visible("a\u{1b}[2Kb"), "a\\u{1b}[2Kb");
        assert_eq!(visible("a\u{200b}b\u{a0}c\td\u{2066}"), "a\\u{200b}b\\u{a0}c\\td\\u{2066}");
        assert_eq!(visible("\u{85}\u{2028}\u{7f}"), "\\u{85}\\u{2028}\\u{7f}");
    }

    #[test]
    fn skeletons_match_look_alikes_only() {
        let base = skeleton("Sales Team");
        for same in ["SALES TEAM", " Sales\u{a0}Team ", "Sales\u{200b}Team", "Sales  Team", "Ｓａｌｅｓ Ｔｅａｍ", "Sаlеs Tеаm"]
        {
            assert_eq!(skeleton(same), base, "{same:?}");
        }
        assert_eq!(skeleton("R\u{2013}D"), skeleton("R-D"));
        for other in ["Sales Teams", "Sale Team", "Salés Team"] {
            assert_ne!(skeleton(other), base, "{other:?}");
        }
    }

    #[test]
    fn skeletons_agree_with_the_name_key() {
        // Names that are one group (crate::model::name_key) look alike too.
        for (a, b) in [("Cafe\u{301}", "Café"), ("\u{fb01}nance", "Finance"), ("\u{130}stanbul", "I\u{307}STANBUL"), ("Straße", "STRASSE")]
        {
            assert_eq!(skeleton(a), skeleton(b), "{a:?} and {b:?}");
        }
        // A dotted capital I looks like the dotless one once lower-cased.
        assert_eq!(skeleton("\u{130}stanbul"), skeleton("Istanbul"));
        assert_ne!(skeleton("Café"), skeleton("Cafe"));
    }
}
