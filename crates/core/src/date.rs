//! Calendar dates (`YYYY-MM-DD`, proleptic Gregorian, UTC): the `until` of an entry, a review's
//! `last`, and the day a plan is evaluated as of. Days since 1970-01-01 make the arithmetic;
//! today's date is the caller's (the core reads no clock). Pure; no I/O.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A calendar day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    /// Days since 1970-01-01 (negative before).
    days: i64,
}

/// Days in month `m` (1–12) of year `y`.
fn month_days(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

impl Date {
    /// The date of `y-m-d`, when it exists.
    pub fn from_ymd(y: i64, m: u32, d: u32) -> Option<Date> {
        if !(1..=12).contains(&m) || d == 0 || d > month_days(y, m) || !(1..=9999).contains(&y) {
            return None;
        }
        // Howard Hinnant's days_from_civil.
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = i64::from(m);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        Some(Date { days: era * 146_097 + doe - 719_468 })
    }

    /// The date `days` days after 1970-01-01.
    pub fn from_days(days: i64) -> Date {
        Date { days }
    }

    /// The day of a Unix time, in UTC.
    pub fn from_unix_seconds(seconds: i64) -> Date {
        Date { days: seconds.div_euclid(86_400) }
    }

    /// `(year, month, day)`.
    pub fn ymd(self) -> (i64, u32, u32) {
        // Howard Hinnant's civil_from_days.
        let z = self.days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        (yoe + era * 400 + i64::from(m <= 2), m, d)
    }

    /// Parses `YYYY-MM-DD` exactly (four-digit year, two-digit month and day); the error says
    /// what is wrong.
    pub fn parse(text: &str) -> Result<Date, String> {
        let b = text.as_bytes();
        let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' || !digits(0..4) || !digits(5..7) || !digits(8..10) {
            return Err(format!("`{text}` is not a date: write it as YYYY-MM-DD (such as 2026-12-31)"));
        }
        let num = |r: std::ops::Range<usize>| text[r].parse::<u32>().unwrap_or(0);
        let (y, m, d) = (i64::from(num(0..4)), num(5..7), num(8..10));
        Date::from_ymd(y, m, d).ok_or_else(|| format!("`{text}` is not a day of the calendar"))
    }

    /// Days from `self` to `other` (negative when `other` is earlier).
    pub fn days_until(self, other: Date) -> i64 {
        other.days - self.days
    }

    /// The date `n` days later (earlier when negative).
    pub fn plus_days(self, n: i64) -> Date {
        Date { days: self.days + n }
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = self.ymd();
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A day, `YYYY-MM-DD`.
impl schemars::JsonSchema for Date {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Date".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": "string", "format": "date", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"})
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Date::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_and_count_days() {
        for text in ["1970-01-01", "2000-02-29", "2026-12-31", "2027-01-01", "2100-03-01", "0001-01-01", "9999-12-31"] {
            assert_eq!(Date::parse(text).expect(text).to_string(), text);
        }
        assert_eq!(Date::parse("1970-01-02").unwrap().days_until(Date::parse("1970-01-01").unwrap()), -1);
        assert_eq!(Date::parse("2026-12-31").unwrap().plus_days(1), Date::parse("2027-01-01").unwrap());
        assert_eq!(Date::parse("2024-02-28").unwrap().days_until(Date::parse("2024-03-01").unwrap()), 2);
        assert_eq!(Date::from_unix_seconds(1_798_761_600), Date::parse("2027-01-01").unwrap());
        assert_eq!(Date::from_unix_seconds(1_798_761_599), Date::parse("2026-12-31").unwrap());
        // Every day of four centuries survives the round trip.
        let start = Date::parse("2000-01-01").unwrap();
        for n in 0..146_097 {
            let d = start.plus_days(n);
            assert_eq!(Date::parse(&d.to_string()), Ok(d));
        }
    }

    #[test]
    fn only_real_days_in_the_one_format_are_dates() {
        for bad in [
            "2026-02-29",
            "2026-13-01",
            "2026-00-10",
            "2026-04-31",
            "26-12-31",
            "2026/12/31",
            "2026-1-5",
            "2026-12-31T00:00",
            "",
            "tomorrow",
            "0000-01-01",
        ] {
            assert!(Date::parse(bad).is_err(), "{bad}");
        }
        assert!(Date::parse("2024-02-29").is_ok());
    }
}
