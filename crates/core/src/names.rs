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
/// space removed, keyed as group names are ([`crate::model::name_key`]), mapped to Unicode's
/// confusable prototypes (the UTS #39 skeleton, from `unicode-security`: every script Unicode
/// lists, Cyrillic, Greek, Armenian and Cherokee among them, and dashes and quotes), keyed again,
/// the dot above a lower-case `i` or `j` dropped. Names that are one group therefore look alike
/// too.
///
/// ```
/// use tallyfy_groups_core::names::skeleton;
/// assert_eq!(skeleton("S\u{0430}les\u{200B}  Team"), skeleton("sales team"));
/// assert_eq!(skeleton("SalesTeam"), skeleton("Sales Team"));
/// assert_ne!(skeleton("Sales Teams"), skeleton("Sales Team"));
/// ```
pub fn skeleton(name: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let shown: String = name.nfkc().filter(|&c| !is_invisible(c) && !c.is_whitespace() && !c.is_control()).collect();
    // Folded first, so that names that are one group share a skeleton whatever their case;
    // then Unicode's confusables (UTS #39), then folded again (a prototype may be a capital).
    let folded = crate::model::name_key(&shown);
    let prototype = |text: &str| crate::model::name_key(&unicode_security::confusable_detection::skeleton(text).collect::<String>());
    let mut confusable = String::with_capacity(folded.len());
    for c in folded.chars() {
        // A letter folded to lower case may be listed only in upper case (Cherokee's lower
        // case looks like small capitals): take the capital's prototype when only it is ASCII.
        let own = prototype(c.encode_utf8(&mut [0; 4]));
        let upper = prototype(&c.to_uppercase().collect::<String>());
        confusable.push_str(if !own.is_ascii() && upper.is_ascii() { &upper } else { &own });
    }
    let key = crate::model::name_key(&confusable);
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
    fn skeletons_know_the_look_alikes_of_every_script_unicode_lists() {
        // Unicode's confusables (UTS #39), beyond Cyrillic and Greek: Armenian `օ` (U+0585)
        // for `o`, Cherokee `Ꭺ` (U+13AA) and `Ꮪ` (U+13DA) for `A` and `S`, Latin `ɑ` for `a`,
        // the digit `1` and capital `I` for `l`.
        assert_eq!(skeleton("Supp\u{0585}rt"), skeleton("Support"));
        assert_eq!(skeleton("\u{13AA}dmins"), skeleton("Admins"));
        assert_eq!(skeleton("\u{13DA}ales"), skeleton("Sales"));
        assert_eq!(skeleton("Fin\u{0251}nce"), skeleton("Finance"));
        assert_eq!(skeleton("Payro11"), skeleton("Payroll"));
        assert_ne!(skeleton("Payroll 2"), skeleton("Payroll"));
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
