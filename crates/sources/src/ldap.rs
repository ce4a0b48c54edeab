//! `ldap: {url, starttls, base, filter, attribute, bind_dn_env, password_env, missing}`: one
//! subtree search with the paged-results control (pages of [`PAGE_SIZE`]), so that a server's
//! size limit never truncates it; any result other than success (a size or time limit on any
//! page, a referral, an error), or a reference among the entries (part of the subtree held by
//! another server), fails the whole source. TLS is rustls with the same rules as the
//! Tallyfy client (the system's CA store, `SSL_CERT_FILE`). A simple bind reads the DN and the
//! password from the named variables (never printed, logged or stored), or binds anonymously.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::{LdapConnAsync, LdapConnSettings, LdapError, Scope, SearchEntry};
use tallyfy_groups_core::model::Email;
use tallyfy_groups_core::source::{LdapSpec, Missing, Person, SourceRead};

use crate::Environment;

/// Entries asked for per page.
pub const PAGE_SIZE: i32 = 500;

/// How long connecting (and the TLS handshake) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long one operation (the bind, one page of the search) may take.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(120);

/// Searches the directory: everyone the filter finds under the base, once each.
pub(crate) async fn read(spec: &LdapSpec, env: &Environment) -> Result<SourceRead, String> {
    let bind = match &spec.bind {
        None => None,
        Some(bind) => {
            let dn = env.get(&bind.dn_env).filter(|v| !v.is_empty()).ok_or_else(|| unset(&bind.dn_env, "bind DN"))?;
            // An empty password is an unauthenticated bind (RFC 4513 §5.1.2), which a server
            // may accept as anonymous: never send one.
            let password =
                env.get(&bind.password_env).filter(|v| !v.is_empty()).ok_or_else(|| unset(&bind.password_env, "bind password"))?;
            Some((dn, password))
        }
    };
    let url = url::Url::parse(&spec.url).map_err(|e| format!("`{}` is not a URL: {e}", spec.url))?;
    let mut settings = LdapConnSettings::new().set_conn_timeout(CONNECT_TIMEOUT).set_starttls(spec.starttls);
    if url.scheme() == "ldaps" || spec.starttls {
        settings = settings.set_config(Arc::new(tls_config()?));
    }
    let (conn, mut ldap) = LdapConnAsync::from_url_with_settings(settings, &url).await.map_err(|e| connect_error(&spec.url, &e))?;
    ldap3::drive!(conn);
    ldap.with_timeout(OPERATION_TIMEOUT);
    if let Some((dn, password)) = &bind {
        let result = ldap.simple_bind(dn, password).await.map_err(|e| connect_error(&spec.url, &e))?;
        if result.rc != 0 {
            let why = if result.rc == 49 {
                "the directory refused the bind DN or password (invalid credentials)".to_string()
            } else {
                format!("the bind failed: {}", result_words(result.rc, &result.text))
            };
            let _ = ldap.unbind().await;
            return Err(format!("{why}; check the variables named by bind_dn_env and password_env"));
        }
    }
    let attrs = vec![spec.attribute.as_str()];
    let adapters: Vec<Box<dyn Adapter<_, _>>> = vec![Box::new(EntriesOnly::new()), Box::new(PagedResults::new(PAGE_SIZE))];
    let mut search =
        ldap.streaming_search_with(adapters, &spec.base, Scope::Subtree, &spec.filter, attrs).await.map_err(|e| search_error(&e))?;
    let mut people = Vec::new();
    let mut seen = HashSet::new();
    let mut warnings = Vec::new();
    let mut bad = Vec::new();
    loop {
        let entry = match search.next().await {
            Ok(Some(entry)) => entry,
            Ok(None) => break,
            Err(e) => return Err(search_error(&e)),
        };
        let entry = SearchEntry::construct(entry);
        let value = entry
            .attrs
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(&spec.attribute))
            .and_then(|(_, values)| values.iter().find(|v| !v.trim().is_empty()));
        let Some(value) = value else {
            match spec.missing {
                Missing::Error => bad.push(format!("{} has no {}", entry.dn, spec.attribute)),
                Missing::Skip => warnings.push(format!("{} has no {}; skipped (missing: skip)", entry.dn, spec.attribute)),
            }
            continue;
        };
        match Email::parse(value) {
            Ok(email) => {
                if seen.insert(email.clone()) {
                    people.push(Person { email, line: None });
                }
            }
            Err(why) => bad.push(format!("{}'s {} `{value}` is not an email address ({why})", entry.dn, spec.attribute)),
        }
    }
    let result = search.finish().await;
    let _ = ldap.unbind().await;
    if result.rc != 0 {
        return Err(format!(
            "the search did not complete ({}{}), so none of it is used; {}",
            result_words(result.rc, &result.text),
            referred_to(&result.refs),
            result_hint(result.rc)
        ));
    }
    // A successful search may still leave out part of the subtree: the entries another server
    // holds come back as references (search result references), which are not followed.
    if !result.refs.is_empty() {
        return Err(format!(
            "the search did not complete (part of the subtree is a referral{}), so none of it is used; {}",
            referred_to(&result.refs),
            result_hint(10)
        ));
    }
    if let Some(first) = bad.first() {
        let more = if bad.len() > 1 { format!(" (and {} more entries)", bad.len() - 1) } else { String::new() };
        let hint = if spec.missing == Missing::Error && bad.iter().any(|b| b.ends_with(&format!("has no {}", spec.attribute))) {
            "; `missing: skip` leaves entries without it out with a warning"
        } else {
            ""
        };
        return Err(format!("{first}{more}{hint}"));
    }
    Ok(SourceRead { people, warnings })
}

/// The same trust as the Tallyfy client: the platform's verifier (the system's CA store and
/// `SSL_CERT_FILE` on Linux).
fn tls_config() -> Result<rustls::ClientConfig, String> {
    use rustls_platform_verifier::BuilderVerifierExt;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_platform_verifier())
        .map(|b| b.with_no_client_auth())
        .map_err(|e| format!("TLS could not be set up: {e}"))
}

fn unset(var: &str, what: &str) -> String {
    format!(
        "{var} (the {what}) is not set or is empty; set it where the pipeline runs, or remove bind_dn_env and password_env for an anonymous bind"
    )
}

fn connect_error(url: &str, e: &LdapError) -> String {
    let text = e.to_string();
    let lower = text.to_lowercase();
    if lower.contains("certificate") || lower.contains("unknownissuer") || lower.contains("invalid peer") {
        return format!(
            "{url}: its TLS certificate is not trusted ({text}); add the directory's CA to the system's trust store or set SSL_CERT_FILE to a PEM file holding it"
        );
    }
    match e {
        LdapError::Timeout { .. } => format!("{url} did not answer within {} s", CONNECT_TIMEOUT.as_secs()),
        LdapError::Io { source } if source.kind() == std::io::ErrorKind::ConnectionRefused => {
            format!("{url} refused the connection (is the directory running, and is the port right?)")
        }
        _ => format!("{url}: {text}"),
    }
}

fn search_error(e: &LdapError) -> String {
    match e {
        LdapError::Timeout { .. } => {
            format!("the search did not answer within {} s, so none of it is used", OPERATION_TIMEOUT.as_secs())
        }
        _ => format!("the search failed ({e}), so none of it is used"),
    }
}

fn result_words(rc: u32, text: &str) -> String {
    let name = match rc {
        1 => "operations error",
        2 => "protocol error",
        3 => "time limit exceeded",
        4 => "size limit exceeded",
        10 => "referral",
        11 => "administrative limit exceeded",
        12 => "critical extension unavailable",
        32 => "no such object",
        34 => "invalid DN syntax",
        49 => "invalid credentials",
        50 => "insufficient access rights",
        51 => "busy",
        52 => "unavailable",
        53 => "unwilling to perform",
        _ => "error",
    };
    if text.trim().is_empty() { format!("result {rc}, {name}") } else { format!("result {rc}, {name}: {}", text.trim()) }
}

/// Where referrals point, for a message: ` to URL, URL`, or nothing.
fn referred_to(refs: &[String]) -> String {
    if refs.is_empty() { String::new() } else { format!(" to {}", refs.join(", ")) }
}

fn result_hint(rc: u32) -> &'static str {
    match rc {
        3 | 4 | 11 => {
            "the directory limits what this account may read even with paging; ask for a higher limit for it (OpenLDAP `limits ... size.prtotal`, Active Directory MaxPageSize/MaxResultSetSize)"
        }
        10 => "the entries are held by another server and referrals are not followed; point url and base at the server that holds them",
        32 => "check `base`: no entry of that name exists",
        50 => "this account may not read those entries; use an account with read access to them",
        _ => "check the source's url, base and filter",
    }
}
