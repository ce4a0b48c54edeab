//! How a run ends: the [`ExitStatus`] of a command, of each target of a workspace, and of the
//! run across them (the most severe). Pure; no I/O.

/// How a command (or one target of it) ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[must_use]
pub enum ExitStatus {
    /// 0: success (no changes, for `plan --detailed-exitcode`).
    Success,
    /// 1: bad input, API failure, partial apply, usage error.
    Error,
    /// 2: `plan --detailed-exitcode` found changes.
    Changes,
    /// 3: refused: a safety guard tripped, or a saved plan is stale.
    Refused,
    /// 130: a Ctrl-C or SIGTERM stopped the run (an apply's report is still printed and written).
    Interrupted,
}

impl ExitStatus {
    /// The process exit code.
    pub fn code(self) -> i32 {
        match self {
            ExitStatus::Success => 0,
            ExitStatus::Error => 1,
            ExitStatus::Changes => 2,
            ExitStatus::Refused => 3,
            ExitStatus::Interrupted => 130,
        }
    }

    /// How much it says about a run: interrupted, then refused, then failed, then changes.
    fn severity(self) -> u8 {
        match self {
            ExitStatus::Interrupted => 4,
            ExitStatus::Refused => 3,
            ExitStatus::Error => 2,
            ExitStatus::Changes => 1,
            ExitStatus::Success => 0,
        }
    }

    /// The status of a run across targets: the most severe of theirs (success for none).
    pub fn most_severe(statuses: impl IntoIterator<Item = ExitStatus>) -> ExitStatus {
        statuses.into_iter().max_by_key(|s| s.severity()).unwrap_or(ExitStatus::Success)
    }
}

#[cfg(test)]
mod tests {
    use super::ExitStatus::{self, *};

    #[test]
    fn the_most_severe_status_wins() {
        assert_eq!(ExitStatus::most_severe([]), Success);
        assert_eq!(ExitStatus::most_severe([Success, Changes, Success]), Changes);
        assert_eq!(ExitStatus::most_severe([Changes, Error]), Error);
        assert_eq!(ExitStatus::most_severe([Error, Refused, Changes]), Refused);
        assert_eq!(ExitStatus::most_severe([Refused, Interrupted, Error]), Interrupted);
        assert_eq!([Success, Error, Changes, Refused, Interrupted].map(ExitStatus::code), [0, 1, 2, 3, 130]);
    }
}
