//! Which API URL and credentials a target uses: one organization's from its flags, the
//! environment (under the names of Tallyfy's docs and of its official CLI) and secret files; a
//! workspace target's from the variables its `credentials_env` names. Either way exactly one
//! [`CredentialSource`]. Reads environment variables and files; the choosing itself is pure.

use std::path::{Path, PathBuf};

use tracing::warn;

use tallyfy_groups_api::auth::default_token_url;
use tallyfy_groups_api::{Credentials, DEFAULT_API_URL, Secret};
use tallyfy_groups_core::desired;

/// A personal access token, as Tallyfy's docs name it.
pub const ACCESS_TOKEN: &str = "TALLYFY_ACCESS_TOKEN";
/// A personal access token, as Tallyfy's official CLI names it.
pub const API_TOKEN: &str = "TALLYFY_API_TOKEN";
/// The API base URL, as Tallyfy's docs name it.
pub const API_URL: &str = "TALLYFY_API_URL";
/// The API base URL, as Tallyfy's official CLI names it.
pub const BASE_URL: &str = "TALLYFY_BASE_URL";
/// The variables that configure the API URL, in the order they are read.
pub const API_URL_VARIABLES: [&str; 2] = [API_URL, BASE_URL];
/// The OAuth client id.
pub const CLIENT_ID: &str = "TALLYFY_CLIENT_ID";
/// The OAuth client secret.
pub const CLIENT_SECRET: &str = "TALLYFY_CLIENT_SECRET";

/// Everything one organization's run could take its API URL and credentials from: the
/// environment's values (set and not blank) and the flags.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Sources {
    /// `--api-url`.
    pub api_url_flag: Option<String>,
    /// `TALLYFY_API_URL`.
    pub api_url: Option<String>,
    /// `TALLYFY_BASE_URL`.
    pub base_url: Option<String>,
    /// `--token-url` (or `TALLYFY_TOKEN_URL`).
    pub token_url: Option<String>,
    /// `TALLYFY_ACCESS_TOKEN`.
    pub access_token: Option<Secret>,
    /// `TALLYFY_API_TOKEN`.
    pub api_token: Option<Secret>,
    /// `--token-file`.
    pub token_file: Option<PathBuf>,
    /// `TALLYFY_CLIENT_ID`.
    pub client_id: Option<String>,
    /// `TALLYFY_CLIENT_SECRET`.
    pub client_secret: Option<Secret>,
    /// `--client-secret-file`.
    pub client_secret_file: Option<PathBuf>,
}

/// The connection flags of one organization's run that name where credentials come from.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Flags {
    /// `--api-url`.
    pub api_url: Option<String>,
    /// `--token-url` (or `TALLYFY_TOKEN_URL`).
    pub token_url: Option<String>,
    /// `--token-file`.
    pub token_file: Option<PathBuf>,
    /// `--client-secret-file`.
    pub client_secret_file: Option<PathBuf>,
}

/// A secret given as a value, or as a file still to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Given {
    /// The secret itself.
    Value(Secret),
    /// A file holding it.
    File(PathBuf),
}

/// The one source of credentials a target uses, before any file is read: built by
/// [`Sources::choose`] (one organization) or [`CredentialSource::of_target`] (a workspace's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialSource {
    /// A personal access token.
    Token(Given),
    /// OAuth client credentials.
    Client {
        /// The client id.
        id: String,
        /// The client secret.
        secret: Given,
        /// Where they are exchanged for a token.
        token_url: String,
    },
}

impl CredentialSource {
    /// The rate limiter these credentials share: Tallyfy counts requests per user, so the same
    /// token, or the same client id at the same token URL, is one user. A SHA-256 hash, so that
    /// no token is kept as a map key.
    pub fn limiter_key(&self) -> LimiterKey {
        let text = match self {
            CredentialSource::Token(Given::Value(token)) => format!("token {}", token.expose()),
            CredentialSource::Token(Given::File(path)) => format!("token file {}", path.display()),
            CredentialSource::Client { id, token_url, .. } => format!("client {id} at {token_url}"),
        };
        LimiterKey::of(&text)
    }

    /// The credentials of a workspace target, from the variables its `credentials_env` prefix
    /// names (see [`for_target`]).
    pub fn of_target(prefix: &str, api_url: &str, token_url: Option<&str>, var: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        for_target(prefix, api_url, token_url, var)
    }
}

/// Which rate limiter a target uses: a hash of its credentials (see
/// [`CredentialSource::limiter_key`]), or the embedded sandbox's one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LimiterKey([u8; 32]);

impl LimiterKey {
    /// The key of a text (hashed at once; the text is not kept).
    pub fn of(text: &str) -> Self {
        let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
        let mut key = [0; 32];
        key.copy_from_slice(digest.as_ref());
        LimiterKey(key)
    }
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

impl Sources {
    /// What the flags and the environment of this process hold.
    pub fn from_env(flags: Flags) -> Self {
        Sources {
            api_url_flag: flags.api_url.filter(|u| !u.trim().is_empty()),
            api_url: var(API_URL),
            base_url: var(BASE_URL),
            token_url: flags.token_url.filter(|u| !u.trim().is_empty()),
            access_token: var(ACCESS_TOKEN).map(Secret::new),
            api_token: var(API_TOKEN).map(Secret::new),
            token_file: flags.token_file,
            client_id: var(CLIENT_ID),
            client_secret: var(CLIENT_SECRET).map(Secret::new),
            client_secret_file: flags.client_secret_file,
        }
    }

    /// The API URL: `--api-url`, else `TALLYFY_API_URL` or its alias `TALLYFY_BASE_URL` (which
    /// must agree when both are set), else Tallyfy's.
    pub fn api_url(&self) -> Result<String, String> {
        if let Some(flag) = &self.api_url_flag {
            return Ok(flag.trim().to_string());
        }
        match (&self.api_url, &self.base_url) {
            (Some(a), Some(b)) if a.trim_end_matches('/') != b.trim_end_matches('/') => Err(format!(
                "{API_URL} ({a}) and {BASE_URL} ({b}) are both set, to different URLs; set only one of them (or pass --api-url)"
            )),
            (Some(url), _) | (None, Some(url)) => Ok(url.clone()),
            (None, None) => Ok(DEFAULT_API_URL.to_string()),
        }
    }

    /// The names of the personal token sources that are set.
    fn personal(&self) -> Vec<&'static str> {
        let mut names = Vec::new();
        if self.access_token.is_some() {
            names.push(ACCESS_TOKEN);
        }
        if self.api_token.is_some() {
            names.push(API_TOKEN);
        }
        if self.token_file.is_some() {
            names.push("--token-file");
        }
        names
    }

    /// The names of the client credential sources that are set.
    fn client(&self) -> Vec<&'static str> {
        let mut names = Vec::new();
        if self.client_id.is_some() {
            names.push(CLIENT_ID);
        }
        if self.client_secret.is_some() {
            names.push(CLIENT_SECRET);
        }
        if self.client_secret_file.is_some() {
            names.push("--client-secret-file");
        }
        names
    }

    /// The one source of credentials: a personal token or client credentials, never both. A file
    /// named by a flag wins over the environment variable it stands for.
    pub fn choose(&self, api_url: &str) -> Result<CredentialSource, String> {
        let (personal, client) = (self.personal(), self.client());
        if !personal.is_empty() && !client.is_empty() {
            return Err(format!(
                "both a personal access token ({}) and client credentials ({}) are set; set only one kind\n    hint: for a pipeline keep the client credentials (they outlast logouts and the six-month expiry of personal tokens) and unset {}",
                personal.join(", "),
                client.join(", "),
                personal.join(" and ")
            ));
        }
        if let Some(file) = &self.token_file {
            return Ok(CredentialSource::Token(Given::File(file.clone())));
        }
        match (&self.access_token, &self.api_token) {
            (Some(a), Some(b)) if a != b => {
                return Err(format!(
                    "{ACCESS_TOKEN} and {API_TOKEN} are both set, to different tokens; set only one of them ({API_TOKEN} is the name Tallyfy's CLI reads, {ACCESS_TOKEN} the one its docs use)"
                ));
            }
            (Some(token), _) | (None, Some(token)) => return Ok(CredentialSource::Token(Given::Value(token.clone()))),
            (None, None) => {}
        }
        if client.is_empty() {
            return Err(format!(
                "no credentials: set {CLIENT_ID} and {CLIENT_SECRET} (client credentials, recommended for pipelines), or {ACCESS_TOKEN} (a personal access token; or --token-file FILE)\n    hint: use --sandbox to try the tool locally without credentials"
            ));
        }
        let Some(id) = &self.client_id else {
            return Err(format!("client credentials need {CLIENT_ID} too: only {} is set", client.join(" and ")));
        };
        let secret = match (&self.client_secret_file, &self.client_secret) {
            (Some(file), _) => Given::File(file.clone()),
            (None, Some(secret)) => Given::Value(secret.clone()),
            (None, None) => {
                return Err(format!("{CLIENT_ID} is set but no client secret: set {CLIENT_SECRET} or pass --client-secret-file FILE"));
            }
        };
        let token_url = match &self.token_url {
            Some(url) => url.trim().to_string(),
            None => default_token_url(api_url).ok_or_else(|| {
                format!(
                    "no token URL for the client credentials: the default (the API URL with /api replaced by /oauth/token) needs an API URL ending in /api, and {api_url} does not\n    hint: set TALLYFY_TOKEN_URL or pass --token-url URL"
                )
            })?,
        };
        Ok(CredentialSource::Client { id: id.clone(), secret, token_url })
    }
}

/// The variables a workspace target's credentials are read from: `{prefix}_ACCESS_TOKEN`, or
/// `{prefix}_CLIENT_ID` and `{prefix}_CLIENT_SECRET` (with `{prefix}_TOKEN_URL` optional).
pub fn target_variables(prefix: &str) -> [String; 4] {
    ["ACCESS_TOKEN", "CLIENT_ID", "CLIENT_SECRET", "TOKEN_URL"].map(|v| format!("{prefix}_{v}"))
}

/// The one source of credentials of a workspace target, from the variables its
/// `credentials_env` prefix names (`var` looks one up; blank counts as unset). `token_url` is
/// what `--token-url` / `TALLYFY_TOKEN_URL` give, used when `{prefix}_TOKEN_URL` is unset.
pub fn for_target(
    prefix: &str,
    api_url: &str,
    token_url: Option<&str>,
    var: impl Fn(&str) -> Option<String>,
) -> Result<CredentialSource, String> {
    let [token_var, id_var, secret_var, url_var] = target_variables(prefix);
    let get = |name: &str| var(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    let (token, id, secret) = (get(&token_var), get(&id_var), get(&secret_var));
    match (token, id, secret) {
        (Some(token), None, None) => Ok(CredentialSource::Token(Given::Value(Secret::new(token)))),
        (Some(_), id, secret) => Err(format!(
            "both a personal access token ({token_var}) and client credentials ({}) are set; set only one kind",
            [id.as_ref().map(|_| id_var.as_str()), secret.as_ref().map(|_| secret_var.as_str())]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(", ")
        )),
        (None, Some(id), Some(secret)) => {
            let token_url = match get(&url_var).or_else(|| token_url.map(|u| u.trim().to_string()).filter(|u| !u.is_empty())) {
                Some(url) => url,
                None => default_token_url(api_url).ok_or_else(|| {
                    format!("no token URL for its client credentials: {api_url} does not end in /api\n    hint: set {url_var}")
                })?,
            };
            Ok(CredentialSource::Client { id, secret: Given::Value(Secret::new(secret)), token_url })
        }
        (None, Some(_), None) => Err(format!("{id_var} is set but not {secret_var}; set both (client credentials)")),
        (None, None, Some(_)) => Err(format!("{secret_var} is set but not {id_var}; set both (client credentials)")),
        (None, None, None) => Err(format!(
            "no credentials: set {id_var} and {secret_var} (client credentials, recommended for pipelines), or {token_var}\n    hint: the prefix {prefix} comes from the target's credentials_env in the workspace file (default TALLYFY_ and the target's name in capitals); --sandbox runs every target locally without credentials"
        )),
    }
}

/// What a secret file holds, for its messages.
#[derive(Debug, Clone, Copy)]
enum SecretFile {
    Token,
    ClientSecret,
}

impl SecretFile {
    fn name(self) -> &'static str {
        match self {
            SecretFile::Token => "token file",
            SecretFile::ClientSecret => "client secret file",
        }
    }

    fn holds(self) -> &'static str {
        match self {
            SecretFile::Token => "the access token",
            SecretFile::ClientSecret => "the client secret",
        }
    }
}

/// The credentials of a run: chosen, and their files read.
pub fn credentials(choice: CredentialSource) -> Result<Credentials, String> {
    let read = |given: Given, kind: SecretFile| match given {
        Given::Value(secret) => Ok(secret),
        Given::File(path) => read_secret_file(&path, kind).map(Secret::new),
    };
    Ok(match choice {
        CredentialSource::Token(token) => Credentials::Token(read(token, SecretFile::Token)?),
        CredentialSource::Client { id, secret, token_url } => {
            Credentials::Client { id, secret: read(secret, SecretFile::ClientSecret)?, token_url }
        }
    })
}

/// Reads a secret file, never more than the loader's 64 MiB limit (it may be a pipe).
fn read_secret_file(path: &Path, kind: SecretFile) -> Result<String, String> {
    let (name, holds) = (kind.name(), kind.holds());
    let shown = path.display();
    let bytes = match desired::read_bounded(path, desired::MAX_FILE_BYTES).map_err(|e| format!("cannot read the {name} {shown}: {e}"))? {
        desired::Bounded::Read(bytes) => bytes,
        desired::Bounded::TooLarge { .. } => return Err(format!("the {name} {shown} is larger than 64 MiB; it should hold only {holds}")),
    };
    warn_if_readable_by_others(path, name);
    let text = String::from_utf8(bytes).map_err(|_| format!("the {name} {shown} is not UTF-8 text; it should hold only {holds}"))?;
    if text.trim().is_empty() {
        return Err(format!("the {name} {shown} is empty; it should hold {holds}"));
    }
    Ok(text.trim().to_string())
}

/// Warns, as ssh does for keys, when a secret file can be read by its group or by others.
#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path, name: &str) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.is_file()
        && meta.permissions().mode() & 0o044 != 0
    {
        let shown = path.display();
        warn!(
            "the {name} {shown} can be read by other users (mode {:o}); restrict it with `chmod 600 {shown}`",
            meta.permissions().mode() & 0o777
        );
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path, _name: &str) {}

#[cfg(test)]
mod tests {
    use super::*;

    /// A secret as `Sources` holds one that is set.
    #[expect(clippy::unnecessary_wraps, reason = "`Sources` holds each secret as an `Option`")]
    fn secret(s: &str) -> Option<Secret> {
        Some(Secret::new(s))
    }

    const API: &str = "https://go.tallyfy.com/api";

    #[test]
    fn one_personal_token_under_either_name() {
        let docs = Sources { access_token: secret("t1"), ..Sources::default() };
        assert_eq!(docs.choose(API), Ok(CredentialSource::Token(Given::Value(Secret::new("t1")))));
        let cli = Sources { api_token: secret("t2"), ..Sources::default() };
        assert_eq!(cli.choose(API), Ok(CredentialSource::Token(Given::Value(Secret::new("t2")))));
        let same = Sources { access_token: secret("t1"), api_token: secret("t1"), ..Sources::default() };
        assert_eq!(same.choose(API), Ok(CredentialSource::Token(Given::Value(Secret::new("t1")))));
        let differ = Sources { access_token: secret("t1"), api_token: secret("t2"), ..Sources::default() };
        let e = differ.choose(API).unwrap_err();
        assert!(e.contains(ACCESS_TOKEN) && e.contains(API_TOKEN) && !e.contains("t1") && !e.contains("t2"), "{e}");
        let file = Sources { access_token: secret("t1"), token_file: Some("tok".into()), ..Sources::default() };
        assert_eq!(file.choose(API), Ok(CredentialSource::Token(Given::File("tok".into()))));
    }

    #[test]
    fn client_credentials_with_the_derived_or_the_given_token_url() {
        let s = Sources { client_id: Some("app".into()), client_secret: secret("cs"), ..Sources::default() };
        let want = CredentialSource::Client {
            id: "app".into(),
            secret: Given::Value(Secret::new("cs")),
            token_url: "https://go.tallyfy.com/oauth/token".into(),
        };
        assert_eq!(s.choose(API), Ok(want));
        let e = s.choose("https://api.tallyfy.com").unwrap_err();
        assert!(e.contains("TALLYFY_TOKEN_URL") && e.contains("--token-url") && e.contains("https://api.tallyfy.com"), "{e}");
        let given = Sources { token_url: Some("https://id.example/token".into()), client_secret_file: Some("cs.txt".into()), ..s };
        let want = CredentialSource::Client {
            id: "app".into(),
            secret: Given::File("cs.txt".into()),
            token_url: "https://id.example/token".into(),
        };
        assert_eq!(given.choose("https://api.tallyfy.com"), Ok(want));
    }

    #[test]
    fn exactly_one_kind_of_credentials() {
        let both = Sources { api_token: secret("t"), client_id: Some("app".into()), client_secret: secret("cs"), ..Sources::default() };
        let e = both.choose(API).unwrap_err();
        assert!(e.contains("TALLYFY_API_TOKEN") && e.contains("TALLYFY_CLIENT_ID, TALLYFY_CLIENT_SECRET"), "{e}");
        let none = Sources::default().choose(API).unwrap_err();
        assert!(none.starts_with("no credentials") && none.contains(CLIENT_ID) && none.contains(ACCESS_TOKEN), "{none}");
        let no_secret = Sources { client_id: Some("app".into()), ..Sources::default() }.choose(API).unwrap_err();
        assert!(no_secret.contains(CLIENT_SECRET) && no_secret.contains("--client-secret-file"), "{no_secret}");
        let no_id = Sources { client_secret: secret("cs"), ..Sources::default() }.choose(API).unwrap_err();
        assert!(no_id.contains("need TALLYFY_CLIENT_ID"), "{no_id}");
    }

    #[test]
    fn a_targets_credentials_come_from_its_prefix() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
        };
        let token = for_target("TALLYFY_STAGING", API, None, env(&[("TALLYFY_STAGING_ACCESS_TOKEN", " t1 ")]));
        assert_eq!(token, Ok(CredentialSource::Token(Given::Value(Secret::new("t1")))));
        let client = for_target(
            "P",
            API,
            Some("https://ignored/token"),
            env(&[("P_CLIENT_ID", "app"), ("P_CLIENT_SECRET", "cs"), ("P_TOKEN_URL", "https://id/token")]),
        );
        assert_eq!(
            client,
            Ok(CredentialSource::Client {
                id: "app".into(),
                secret: Given::Value(Secret::new("cs")),
                token_url: "https://id/token".into()
            })
        );
        let derived = for_target("P", API, None, env(&[("P_CLIENT_ID", "app"), ("P_CLIENT_SECRET", "cs")]));
        assert!(matches!(derived, Ok(CredentialSource::Client { token_url, .. }) if token_url == "https://go.tallyfy.com/oauth/token"));
        let flag = for_target("P", "https://x.example", Some("https://id/t"), env(&[("P_CLIENT_ID", "app"), ("P_CLIENT_SECRET", "cs")]));
        assert!(matches!(flag, Ok(CredentialSource::Client { token_url, .. }) if token_url == "https://id/t"));
        let e = for_target("P", "https://x.example", None, env(&[("P_CLIENT_ID", "app"), ("P_CLIENT_SECRET", "cs")])).unwrap_err();
        assert!(e.contains("set P_TOKEN_URL"), "{e}");
        let e = for_target("P", API, None, env(&[("P_ACCESS_TOKEN", "t"), ("P_CLIENT_ID", "app")])).unwrap_err();
        assert!(e.starts_with("both") && e.contains("P_ACCESS_TOKEN") && e.contains("P_CLIENT_ID") && !e.contains("\"t\""), "{e}");
        let e = for_target("P", API, None, env(&[("P_CLIENT_ID", "app")])).unwrap_err();
        assert!(e.contains("P_CLIENT_ID is set but not P_CLIENT_SECRET"), "{e}");
        let e = for_target("P", API, None, env(&[("P_CLIENT_SECRET", "s"), ("TALLYFY_ACCESS_TOKEN", "t")])).unwrap_err();
        assert!(e.contains("P_CLIENT_SECRET is set but not P_CLIENT_ID"), "{e}");
        let e = for_target("TALLYFY_EU", API, None, env(&[("TALLYFY_ACCESS_TOKEN", "t")])).unwrap_err();
        assert!(e.starts_with("no credentials") && e.contains("TALLYFY_EU_CLIENT_ID") && e.contains("TALLYFY_EU_ACCESS_TOKEN"), "{e}");
    }

    #[test]
    fn the_api_url_under_either_name() {
        assert_eq!(Sources::default().api_url(), Ok(DEFAULT_API_URL.to_string()));
        let alias = Sources { base_url: Some("https://a/api".into()), ..Sources::default() };
        assert_eq!(alias.api_url(), Ok("https://a/api".to_string()));
        let agree = Sources { api_url: Some("https://a/api/".into()), ..alias.clone() };
        assert_eq!(agree.api_url(), Ok("https://a/api/".to_string()));
        let differ = Sources { api_url: Some("https://b/api".into()), ..alias.clone() };
        let e = differ.api_url().unwrap_err();
        assert!(e.contains(API_URL) && e.contains(BASE_URL), "{e}");
        let flag = Sources { api_url_flag: Some("https://c/api".into()), ..differ };
        assert_eq!(flag.api_url(), Ok("https://c/api".to_string()));
    }

    #[test]
    fn targets_with_the_same_credentials_share_a_rate_limiter_and_others_do_not() {
        let env = [
            ("TALLYFY_STAGING_ACCESS_TOKEN", "t1"),
            ("TALLYFY_PRODUCTION_ACCESS_TOKEN", "t1"),
            ("TALLYFY_EU_ACCESS_TOKEN", "t2"),
            ("TALLYFY_A_CLIENT_ID", "c"),
            ("TALLYFY_A_CLIENT_SECRET", "s1"),
            ("TALLYFY_B_CLIENT_ID", "c"),
            ("TALLYFY_B_CLIENT_SECRET", "s2"),
        ];
        let key = |prefix: &str, api_url: &str| {
            let var = |name: &str| env.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string());
            for_target(prefix, api_url, None, var).map(|c| c.limiter_key()).unwrap_or_else(|e| panic!("{prefix}: {e}"))
        };
        let tallyfy = "https://go.tallyfy.com/api";
        assert_eq!(key("TALLYFY_STAGING", tallyfy), key("TALLYFY_PRODUCTION", tallyfy), "one token is one user");
        assert_ne!(key("TALLYFY_STAGING", tallyfy), key("TALLYFY_EU", tallyfy), "another token is another user");
        assert_eq!(key("TALLYFY_A", tallyfy), key("TALLYFY_B", tallyfy), "one client id at one token URL is one application");
        assert_ne!(key("TALLYFY_A", tallyfy), key("TALLYFY_B", "https://eu.tallyfy.example/api"), "another token URL is another account");
    }
}
