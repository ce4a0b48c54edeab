//! The apply report: how each action of a plan ended. Plain data that the applier fills and the
//! renderers read. Pure; no I/O.

use serde::{Deserialize, Serialize};

/// How one action ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    Applied,
    Failed {
        error: String,
    },
    Skipped {
        reason: String,
    },
    /// It may or may not have taken effect (a create whose re-read failed, a request abandoned
    /// in flight); the next plan shows which.
    Unknown {
        reason: String,
    },
}

/// One action's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionResult {
    pub verb: String,
    pub subject: String,
    pub outcome: Outcome,
}

/// Every action's result, in plan order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplyReport {
    pub results: Vec<ActionResult>,
    /// The reason given with `--allow-removals`, when the guard was overridden.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_removals: Option<String>,
}

impl ApplyReport {
    /// (applied, failed, skipped).
    pub fn counts(&self) -> (usize, usize, usize) {
        let mut c = (0, 0, 0);
        for r in &self.results {
            match r.outcome {
                Outcome::Applied => c.0 += 1,
                Outcome::Failed { .. } => c.1 += 1,
                Outcome::Skipped { .. } => c.2 += 1,
                Outcome::Unknown { .. } => {}
            }
        }
        c
    }

    /// Actions that may or may not have taken effect.
    pub fn unknown(&self) -> usize {
        self.results.iter().filter(|r| matches!(r.outcome, Outcome::Unknown { .. })).count()
    }

    pub fn all_applied(&self) -> bool {
        self.results.iter().all(|r| r.outcome == Outcome::Applied)
    }
}
