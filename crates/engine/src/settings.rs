//! A run's settings, built once by the terminal layer: one [`TargetSettings`] for the one
//! organization of the command line, or one per target of a workspace file, and the
//! [`ConnectSettings`] they share. Below this point no command-line type travels, and nothing
//! is rewritten from a saved plan. [`connect`] turns a target's settings into a client; targets
//! whose credentials are one Tallyfy user share one rate limiter ([`Limiters`]).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tallyfy_groups_api::config::ConfigError;
use tallyfy_groups_api::error::Names;
use tallyfy_groups_api::{
    ApiError, Client, ClientConfig, Credentials, DEFAULT_API_URL, MAX_ANSWER_BYTES, OrgContext, RateLimiter, RetryPolicy, Secret, Stop,
};
use tallyfy_groups_core::model::OrgId;
use tallyfy_groups_core::plan::Target;
use tallyfy_groups_core::workspace::TargetSpec;

use crate::credentials::{self, CredentialSource, LimiterKey};

/// Where a target's API answers.
#[derive(Debug, Clone)]
pub enum Endpoint {
    /// Tallyfy (or a server speaking its API) at this base URL, with these credentials.
    Tallyfy {
        /// The API's base URL.
        api_url: String,
        /// The one source of its credentials.
        credentials: CredentialSource,
    },
    /// The embedded sandbox this run started.
    Embedded(EmbeddedSite),
    /// A workspace target whose credentials could not be chosen (a variable missing, say): it
    /// fails when connected, with this reason, and the run's other targets go on.
    Unusable {
        /// What is wrong, with what to do.
        reason: String,
    },
}

/// Where the embedded sandbox of this run answers.
#[derive(Debug, Clone)]
pub struct EmbeddedSite {
    /// Its loopback base URL.
    pub base_url: String,
    /// Its token.
    pub token: Secret,
    /// What a saved plan records as its API URL (`sandbox:` and the state file).
    pub label: String,
}

/// One target of a run.
#[derive(Debug, Clone)]
pub struct TargetSettings {
    /// The workspace target's name; `None` for the one organization of the command line.
    pub name: Option<String>,
    /// The organization.
    pub org: OrgId,
    /// Where its API answers.
    pub endpoint: Endpoint,
    /// Its groups files.
    pub files: Vec<PathBuf>,
    /// The baseline's files (`plan --baseline`), if any.
    pub baseline: Option<Vec<PathBuf>>,
    /// The names a person sets for each setting an error's hint points at.
    pub names: Names,
    /// Its owners file (a workspace target's `owners:`); none: the run's `--owners`, or
    /// `owners.yaml` beside its first groups file.
    pub owners: Option<PathBuf>,
    /// Its policy file (a workspace target's `policy:`), used when the run's `--policy` names none.
    pub policy: Option<PathBuf>,
}

impl TargetSettings {
    /// A workspace's target: its organization, API URL and files from the workspace file, its
    /// credentials from the variables its `credentials_env` names (`var` reads one), or the
    /// embedded sandbox's. Credentials that cannot be chosen fail this target only, when it
    /// connects. `token_url` is `--token-url` / `TALLYFY_TOKEN_URL`.
    pub fn of_workspace(
        spec: &TargetSpec,
        sandbox: Option<&EmbeddedSite>,
        token_url: Option<&str>,
        var: impl Fn(&str) -> Option<String>,
    ) -> Self {
        let endpoint = match sandbox {
            Some(site) => Endpoint::Embedded(site.clone()),
            None => {
                let api_url = spec.api_url.clone().unwrap_or_else(|| DEFAULT_API_URL.to_string());
                match CredentialSource::of_target(&spec.credentials_env, &api_url, token_url, var) {
                    Ok(credentials) => Endpoint::Tallyfy { api_url, credentials },
                    Err(reason) => Endpoint::Unusable { reason },
                }
            }
        };
        let (p, name) = (&spec.credentials_env, &spec.name);
        let names = Names {
            org: format!("the `org_id` of target {name}"),
            api_url: format!("the `api_url` of target {name}"),
            access_token: format!("{p}_ACCESS_TOKEN"),
            client: format!("{p}_CLIENT_ID and {p}_CLIENT_SECRET"),
            client_or_file: format!("{p}_CLIENT_ID and {p}_CLIENT_SECRET"),
            token_url: format!("{p}_TOKEN_URL or --token-url"),
        };
        TargetSettings {
            name: Some(spec.name.clone()),
            org: spec.org_id.clone().into(),
            endpoint,
            files: spec.files.iter().map(|f| f.path.clone()).collect(),
            baseline: None,
            names,
            owners: spec.owners.as_ref().map(|o| o.path.clone()),
            policy: spec.policy.as_ref().map(|o| o.path.clone()),
        }
    }

    /// The name messages use: the target's, or "the organization".
    pub fn label(&self) -> &str {
        self.name.as_deref().unwrap_or("the organization")
    }

    /// The rate limiter it shares with targets of the same Tallyfy user.
    pub fn limiter_key(&self) -> LimiterKey {
        match &self.endpoint {
            Endpoint::Tallyfy { credentials, .. } => credentials.limiter_key(),
            Endpoint::Embedded(_) | Endpoint::Unusable { .. } => LimiterKey::of("embedded sandbox"),
        }
    }
}

/// How every target's client connects.
#[derive(Debug, Clone)]
pub struct ConnectSettings {
    /// How long one request may take.
    pub timeout: Duration,
    /// How long retries of one request may take in all.
    pub max_retry_time: Duration,
    /// Requests in any rolling minute per Tallyfy user; 0 = no client-side limit.
    pub max_requests_per_minute: u32,
    /// An extra ceiling of requests per second; 0 = none.
    pub max_rps: f64,
    /// Requests in flight at once per target.
    pub parallelism: usize,
}

/// One rate limiter per Tallyfy user, made on first use.
#[derive(Debug, Default)]
pub struct Limiters(Mutex<HashMap<LimiterKey, Arc<RateLimiter>>>);

impl Limiters {
    /// The limiter of `key`.
    pub fn get(&self, key: LimiterKey, settings: &ConnectSettings) -> Arc<RateLimiter> {
        let mut limiters = self.0.lock().unwrap_or_else(|p| p.into_inner());
        limiters
            .entry(key)
            .or_insert_with(|| Arc::new(RateLimiter::per_minute(settings.max_requests_per_minute).with_max_rps(settings.max_rps)))
            .clone()
    }
}

/// Why a target could not be connected.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// Its credentials could not be read (a secret file).
    #[error("{0}")]
    Credentials(String),
    /// Its client's configuration is unusable.
    #[error(transparent)]
    Client(#[from] ConfigError),
    /// Client credentials could not be exchanged for a token.
    #[error(transparent)]
    Api(#[from] ApiError),
}

/// A client for the target, sharing `limiters` with the run's other targets; client
/// credentials are exchanged now, so wrong ones fail before anything is read.
pub async fn connect(
    target: &TargetSettings,
    settings: &ConnectSettings,
    limiters: &Limiters,
    stop: Stop,
) -> Result<OrgContext<Client>, ConnectError> {
    let (base_url, credentials, label) = match &target.endpoint {
        Endpoint::Embedded(site) => (site.base_url.clone(), Credentials::Token(site.token.clone()), site.label.clone()),
        Endpoint::Tallyfy { api_url, credentials } => {
            let read = credentials::credentials(credentials.clone()).map_err(ConnectError::Credentials)?;
            (api_url.clone(), read, api_url.trim_end_matches('/').to_string())
        }
        Endpoint::Unusable { reason } => return Err(ConnectError::Credentials(reason.clone())),
    };
    let config = ClientConfig {
        base_url,
        org: target.org.clone(),
        credentials,
        timeout: settings.timeout.max(Duration::from_secs(1)),
        retry: RetryPolicy { max_total: settings.max_retry_time, ..RetryPolicy::default() },
        max_requests_per_minute: settings.max_requests_per_minute,
        max_rps: settings.max_rps,
        parallelism: settings.parallelism,
        limiter: Some(limiters.get(target.limiter_key(), settings)),
        stop,
        max_answer_bytes: MAX_ANSWER_BYTES,
    };
    let target = Target { api_url: label, org: config.org.clone() };
    let client = Client::new(config)?;
    client.authenticate().await?;
    Ok(OrgContext { target, api: client })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{Refusal, TargetError};
    use std::path::Path;
    use tallyfy_groups_api::error::TransportCause;
    use tallyfy_groups_core::outcome::ExitStatus;
    use tallyfy_groups_core::workspace as ws;

    fn target() -> ws::TargetSpec {
        let text = "targets:\n  eu:\n    org_id: a\n    credentials_env: ACME\n    files: a.yaml\n";
        ws::parse("ws.yaml", text, Path::new("")).map(|w| w.targets[0].clone()).unwrap_or_else(|d| panic!("{d}"))
    }

    fn status(status: u16) -> ApiError {
        ApiError::Status {
            method: "GET".into(),
            path: "/organizations/a/groups".into(),
            status,
            message: "no".into(),
            code: None,
            field_errors: Default::default(),
            request_id: None,
        }
    }

    fn transport(cause: TransportCause) -> ApiError {
        ApiError::Transport { method: "GET".into(), path: "/x".into(), detail: "d".into(), timeout: false, connect: true, cause }
    }

    #[test]
    fn a_targets_errors_name_its_own_variables_never_a_single_organizations() {
        let exchange = |status| ApiError::TokenExchange { url: "https://t/oauth/token".into(), status, detail: "no".into() };
        let errors = vec![
            TargetError::Api(status(401)),
            TargetError::Api(status(404)),
            TargetError::Api(exchange(Some(401))),
            TargetError::Api(exchange(None)),
            TargetError::Api(exchange(Some(302))),
            TargetError::Api(ApiError::StillUnauthorized { last: Box::new(status(401)) }),
            TargetError::Api(transport(TransportCause::UnknownHost { host: "h".into() })),
            TargetError::Api(transport(TransportCause::Refused { address: "127.0.0.1:1".into() })),
            TargetError::Api(transport(TransportCause::UntrustedCertificate { host: "h".into(), reason: "r".into() })),
            TargetError::Api(transport(TransportCause::Other)),
            TargetError::Api(ApiError::Redirected { method: "GET".into(), path: "/x".into(), status: 301, location: None }),
            TargetError::Client(ConfigError::BadTokenUrl("x".into())),
        ];
        let spec = TargetSettings::of_workspace(&target(), None, None, |_| None);
        for e in errors {
            let before = e.to_string();
            assert!(before.contains("TALLYFY_") || before.contains("--"), "the case names a single organization's words: {before}");
            let after = e.named(&spec).to_string();
            for single in ["TALLYFY_", "--token-file", "--client-secret-file", "--org", "--api-url"] {
                assert!(!after.contains(single), "`{single}` in:\n{after}");
            }
        }
        let said = TargetError::Api(status(401)).named(&spec).to_string();
        assert!(said.contains("update ACME_ACCESS_TOKEN.") && said.contains("(ACME_CLIENT_ID and ACME_CLIENT_SECRET,"), "{said}");
        let said = TargetError::Api(status(404)).named(&spec).to_string();
        assert!(said.contains("check the organization id (the `org_id` of target eu) and that the API URL ends in /api"), "{said}");
        // Other errors, and their exit status, are left as they are.
        let refused = TargetError::from(Refusal::SavedPlan("stale".into())).named(&spec);
        assert_eq!((refused.to_string(), refused.exit_status()), ("stale".to_string(), ExitStatus::Refused));
    }
}
