//! `csv: {path, column, where}`: UTF-8 (a byte-order mark is fine), a header row, the column of
//! addresses and the `where` columns by header name (case-insensitive), `where` as equality on
//! each named column (all must hold; spaces around a cell are ignored). Blank address cells are
//! skipped; a cell that is not an address fails the source, naming its file and line.

use std::collections::HashSet;
use std::io::Read;

use tallyfy_groups_core::model::Email;
use tallyfy_groups_core::source::{CsvSpec, Person, SourceRead};

/// At most this many bad rows are named in one failure (the count says how many more).
const BAD_ROWS_SHOWN: usize = 5;

/// Reads the file: everyone in it, once each, in the order read.
pub(crate) fn read(spec: &CsvSpec) -> Result<SourceRead, String> {
    let bytes = open(spec)?;
    let mut reader = reader(&bytes);
    let columns = Columns::find(&mut reader, spec)?;
    let shown = spec.path.display();
    let mut lines = Lines { bytes: &bytes, at: 0, line: 1 };
    let mut people = Vec::new();
    let mut seen = HashSet::new();
    let mut bad = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(csv_error(&shown.to_string(), &e)),
        }
        let line = lines.of(record.position().map_or(0, |p| p.byte() as usize));
        if !columns.filter.iter().all(|(i, want)| record.get(*i).map(str::trim) == Some(want.as_str())) {
            continue;
        }
        let cell = record.get(columns.email).unwrap_or("").trim();
        if cell.is_empty() {
            continue;
        }
        match Email::parse(cell) {
            Ok(email) => {
                if seen.insert(email.clone()) {
                    people.push(Person { email, line: Some(line) });
                }
            }
            Err(why) => bad.push(format!("{shown}:{line}: `{cell}` is not an email address ({why})")),
        }
    }
    if !bad.is_empty() {
        let more = bad.len().saturating_sub(BAD_ROWS_SHOWN);
        let mut text = bad.into_iter().take(BAD_ROWS_SHOWN).collect::<Vec<_>>().join("; ");
        if more > 0 {
            text.push_str(&format!("; and {more} more"));
        }
        return Err(text);
    }
    Ok(SourceRead { people, warnings: Vec::new() })
}

/// `validate`'s check: the file opens and its header has the named columns.
pub(crate) fn check_header(spec: &CsvSpec) -> Result<(), String> {
    let bytes = open(spec)?;
    Columns::find(&mut reader(&bytes), spec).map(|_| ())
}

/// The most bytes a CSV source may have (an export of a million people is well below it).
const MAX_BYTES: u64 = 512 * 1024 * 1024;

/// The whole file (a CSV export of people is megabytes at most; reading it at once lets every
/// row be named by its line). Only a regular file (or a link to one) is read: a device or a
/// pipe could hang the run or never end.
fn open(spec: &CsvSpec) -> Result<Vec<u8>, String> {
    let shown = spec.path.display();
    let meta = std::fs::metadata(&spec.path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!("{shown} does not exist"),
        _ => format!("{shown} cannot be read: {e}"),
    })?;
    if meta.is_dir() {
        return Err(format!("{shown} is a folder, not a CSV file"));
    }
    if !meta.is_file() {
        return Err(format!("{shown} is not a regular file (a device or a pipe?); a CSV source reads a file"));
    }
    if meta.len() > MAX_BYTES {
        return Err(format!("{shown} is larger than {} MiB", MAX_BYTES / 1024 / 1024));
    }
    let file = std::fs::File::open(&spec.path).map_err(|e| format!("{shown} cannot be read: {e}"))?;
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(MAX_BYTES + 1).read_to_end(&mut bytes).map_err(|e| format!("{shown} cannot be read: {e}"))?;
    if bytes.len() as u64 > MAX_BYTES {
        return Err(format!("{shown} is larger than {} MiB", MAX_BYTES / 1024 / 1024));
    }
    Ok(bytes)
}

/// The csv crate skips a UTF-8 byte-order mark at the start; rows must have the header's
/// number of cells (a row with more or fewer is an error naming its line).
fn reader(bytes: &[u8]) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new().has_headers(true).flexible(false).from_reader(bytes)
}

/// Line numbers from byte offsets, counted forwards once (records come in order). The csv
/// crate's own line count lags by one after a CRLF, so it is not used.
struct Lines<'a> {
    bytes: &'a [u8],
    at: usize,
    line: usize,
}

impl Lines<'_> {
    /// The line on which the record starting at byte `start` begins (a record's reported start
    /// may be the line ending before it).
    fn of(&mut self, mut start: usize) -> usize {
        while matches!(self.bytes.get(start), Some(b'\r' | b'\n')) {
            start += 1;
        }
        let start = start.min(self.bytes.len());
        if start > self.at {
            self.line += self.bytes[self.at..start].iter().filter(|&&b| b == b'\n').count();
            self.at = start;
        }
        self.line
    }
}

/// Where the named columns are.
struct Columns {
    email: usize,
    filter: Vec<(usize, String)>,
}

impl Columns {
    fn find<R: Read>(reader: &mut csv::Reader<R>, spec: &CsvSpec) -> Result<Columns, String> {
        let shown = spec.path.display().to_string();
        let header = reader.headers().map_err(|e| csv_error(&shown, &e))?.clone();
        if header.iter().all(|h| h.trim().is_empty()) {
            return Err(format!("{shown} has no header row (the first line names the columns)"));
        }
        let index = |name: &str| -> Result<usize, String> {
            let matching: Vec<usize> =
                header.iter().enumerate().filter(|(_, h)| h.trim().eq_ignore_ascii_case(name.trim())).map(|(i, _)| i).collect();
            match matching.as_slice() {
                [i] => Ok(*i),
                [] => Err(format!(
                    "{shown} has no column `{name}` (its columns: {})",
                    header.iter().map(|h| format!("`{}`", h.trim())).collect::<Vec<_>>().join(", ")
                )),
                _ => Err(format!("{shown} has {} columns named `{name}` (any case); name one that is unique", matching.len())),
            }
        };
        let email = index(&spec.column)?;
        let filter = spec.filter.iter().map(|(k, v)| Ok((index(k)?, v.trim().to_string()))).collect::<Result<Vec<_>, String>>()?;
        Ok(Columns { email, filter })
    }
}

fn csv_error(shown: &str, e: &csv::Error) -> String {
    let at = e.position().map(|p| format!(":{}", p.line())).unwrap_or_default();
    match e.kind() {
        csv::ErrorKind::Utf8 { .. } => format!("{shown}{at}: not UTF-8 text (save the file as UTF-8)"),
        csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
            format!("{shown}{at}: a row of {len} cells where the header has {expected_len}")
        }
        csv::ErrorKind::Io(io) => format!("{shown}: {io}"),
        _ => format!("{shown}{at}: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::path::Path;

    fn spec(path: &Path, column: &str, filter: &[(&str, &str)]) -> CsvSpec {
        CsvSpec {
            path: path.to_path_buf(),
            column: column.into(),
            filter: filter.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>(),
        }
    }

    fn file(text: &str) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().expect("temp");
        std::fs::write(f.path(), text).expect("write");
        f
    }

    fn emails(read: &SourceRead) -> Vec<(String, Option<usize>)> {
        read.people.iter().map(|p| (p.email.as_str().to_string(), p.line)).collect()
    }

    #[test]
    fn reads_the_column_by_header_any_case_with_where_and_lines() {
        let f = file(
            "\u{feff}Name,EMAIL,Status\nAnn,Ann@Example.com,active\nBob,bob@example.com,left\nCy,,active\nDee, dee@example.com ,active\nAnn again,ann@example.com,active\n",
        );
        let read = read(&spec(f.path(), "email", &[("status", "active")])).expect("read");
        assert_eq!(emails(&read), [("ann@example.com".into(), Some(2)), ("dee@example.com".into(), Some(5))]);
    }

    #[test]
    fn a_bad_address_names_its_file_and_line_and_fails_everything() {
        let f = file("email\nann@example.com\nbob\nnot an address\n");
        let err = read(&spec(f.path(), "email", &[])).unwrap_err();
        let shown = f.path().display();
        assert!(err.contains(&format!("{shown}:3: `bob` is not an email address (has no '@')")), "{err}");
        assert!(err.contains(&format!("{shown}:4:")), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn a_device_is_refused_rather_than_read_forever() {
        let err = read(&spec(std::path::Path::new("/dev/zero"), "email", &[])).unwrap_err();
        assert_eq!(err, "/dev/zero is not a regular file (a device or a pipe?); a CSV source reads a file");
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("people.csv");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        assert!(read(&spec(&link, "email", &[])).unwrap_err().contains("is not a regular file"));
    }

    #[test]
    fn missing_columns_files_and_ragged_rows_are_errors() {
        let f = file("name,mail\nAnn,ann@example.com\n");
        let err = read(&spec(f.path(), "email", &[])).unwrap_err();
        assert!(err.ends_with("has no column `email` (its columns: `name`, `mail`)"), "{err}");
        let err = check_header(&spec(f.path(), "mail", &[("team", "x")])).unwrap_err();
        assert!(err.contains("no column `team`"), "{err}");
        assert!(check_header(&spec(f.path(), "MAIL", &[])).is_ok());
        let err = read(&spec(Path::new("/nonexistent/hr.csv"), "email", &[])).unwrap_err();
        assert_eq!(err, "/nonexistent/hr.csv does not exist");
        let ragged = file("email,team\nann@example.com,x\nbob@example.com\n");
        let err = read(&spec(ragged.path(), "email", &[])).unwrap_err();
        assert!(err.contains(":3: a row of 1 cells where the header has 2"), "{err}");
        let latin1 = tempfile::NamedTempFile::new().expect("temp");
        std::fs::write(latin1.path(), b"email\nj\xf6rg@example.com\n").expect("write");
        let err = read(&spec(latin1.path(), "email", &[])).unwrap_err();
        assert!(err.contains("not UTF-8"), "{err}");
        let dup = file("Email,email\na@example.com,b@example.com\n");
        assert!(read(&spec(dup.path(), "email", &[])).unwrap_err().contains("2 columns named `email`"));
    }

    #[test]
    fn an_empty_file_yields_nobody_and_the_core_decides_what_that_means() {
        let f = file("email\n");
        assert!(read(&spec(f.path(), "email", &[])).expect("read").people.is_empty());
        let blank = file("");
        assert!(read(&spec(blank.path(), "email", &[])).unwrap_err().contains("no header row"));
    }

    #[test]
    fn crlf_and_quoted_cells_are_read() {
        let f = file("\"email\",\"note\"\r\n\"ann@example.com\",\"a, b\"\r\n");
        assert_eq!(emails(&read(&spec(f.path(), "email", &[])).expect("read")), [("ann@example.com".into(), Some(2))]);
    }
}
