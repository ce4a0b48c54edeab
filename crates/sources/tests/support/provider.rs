//! What the identity-provider tests share: read options with fast retries and the given
//! variables, the read of one source named `finance-KIND`, and a failure's reason, checked to
//! name its source and show none of the secrets.

use std::sync::Arc;
use std::time::Duration;

use tallyfy_groups_core::desired::Location;
use tallyfy_groups_core::source::{SourceFailure, SourceKind, SourceRead, SourceSpec, Unknown};
use tallyfy_groups_sources::{Environment, HttpOptions, ReadOptions};

/// Three attempts, 10 ms apart at first, with these variables set.
pub(crate) fn options(vars: &[(&str, &str)]) -> ReadOptions {
    ReadOptions {
        env: Environment::fixed(vars.iter().map(|(k, v)| (k.to_string(), v.to_string()))),
        http: HttpOptions {
            attempts: 3,
            first_pause: Duration::from_millis(10),
            max_wait: Duration::from_secs(5),
            timeout: Duration::from_secs(10),
        },
        ..ReadOptions::default()
    }
}

/// Reads source `finance-KIND` of this kind, defined at groups.yaml:2:3.
pub(crate) async fn read(kind: SourceKind, options: &ReadOptions) -> Result<SourceRead, SourceFailure> {
    let spec = SourceSpec {
        name: format!("finance-{}", kind.label()),
        kind,
        allow_empty: false,
        unknown: Unknown::Error,
        at: Location { file: Arc::from("groups.yaml"), line: 2, column: 3 },
        dir: ".".into(),
    };
    tallyfy_groups_sources::read(&spec, options).await
}

/// The reason of a read that must fail: it names source `finance-KIND`, and shows no secret.
pub(crate) fn failure(result: Result<SourceRead, SourceFailure>, kind: &str, secrets: &[&str]) -> String {
    match result {
        Ok(read) => panic!("the read succeeded with {} people", read.people.len()),
        Err(f) => {
            assert_eq!((f.name.as_str(), f.kind), (format!("finance-{kind}").as_str(), kind));
            for secret in secrets {
                assert!(!f.reason.contains(secret), "a secret was shown: {}", f.reason);
            }
            f.reason
        }
    }
}
