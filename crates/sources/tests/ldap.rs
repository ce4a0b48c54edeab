//! The LDAP reader against a real OpenLDAP `slapd` (see `support/slapd.rs`): a paged search
//! reads every person although the server answers 100 entries at most to a search without
//! paging; a server that stops a paged search on page 2, an entry without the attribute, a
//! refused bind, a missing base, a referral and a closed port each fail the whole source, never
//! part of it. Over TLS (`ldaps://` and StartTLS), a certificate no one trusts is one clear
//! error, and `SSL_CERT_FILE` naming its CA makes it trusted, as for the Tallyfy client. Where
//! `slapd` is not installed the tests that need it are skipped, unless `CI` is set.

#![cfg(unix)]

#[path = "support/slapd.rs"]
mod slapd;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::{LdapConnAsync, Scope};
use tallyfy_groups_core::desired::Location;
use tallyfy_groups_core::source::{LdapBind, LdapSpec, Missing, SourceFailure, SourceKind, SourceRead, SourceSpec, Unknown};
use tallyfy_groups_sources::{Environment, LDAP_PAGE_SIZE, ReadOptions};

const DN_VAR: &str = "DIRECTORY_BIND_DN";
const PASSWORD_VAR: &str = "DIRECTORY_BIND_PASSWORD";

/// An anonymous `ldap:` source on `url` (no StartTLS), `missing: error`.
fn spec(url: &str, base: &str, filter: &str) -> LdapSpec {
    LdapSpec {
        url: url.to_string(),
        starttls: false,
        base: base.to_string(),
        filter: filter.to_string(),
        attribute: "mail".to_string(),
        bind: None,
        missing: Missing::Error,
    }
}

/// The same, binding with the DN and password in [`DN_VAR`] and [`PASSWORD_VAR`].
fn bound(mut spec: LdapSpec) -> LdapSpec {
    spec.bind = Some(LdapBind { dn_env: DN_VAR.to_string(), password_env: PASSWORD_VAR.to_string() });
    spec
}

fn env(vars: &[(&str, &str)]) -> Environment {
    Environment::fixed(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())))
}

async fn read(spec: LdapSpec, env: Environment) -> Result<SourceRead, SourceFailure> {
    let spec = SourceSpec {
        name: "directory".to_string(),
        kind: SourceKind::Ldap(spec),
        allow_empty: false,
        unknown: Unknown::Error,
        at: Location { file: Arc::from("groups.yaml"), line: 3, column: 5 },
        dir: PathBuf::from("."),
    };
    tallyfy_groups_sources::read(&spec, &ReadOptions { allow_commands: false, env, ..ReadOptions::default() }).await
}

/// The addresses read, as a set, after checking that none was yielded twice.
fn addresses(read: &SourceRead) -> BTreeSet<String> {
    let set: BTreeSet<String> = read.people.iter().map(|p| p.email.as_str().to_string()).collect();
    assert_eq!(set.len(), read.people.len(), "a person yielded twice");
    set
}

fn expected(numbers: impl Iterator<Item = usize>) -> BTreeSet<String> {
    numbers.map(slapd::address).collect()
}

/// The reason of a read that must fail, after checking that the failure is the source's.
fn failure(result: Result<SourceRead, SourceFailure>) -> String {
    match result {
        Ok(read) => panic!("the read succeeded with {} people and warnings {:?}", read.people.len(), read.warnings),
        Err(failure) => {
            assert_eq!((failure.name.as_str(), failure.kind), ("directory", "ldap"));
            assert_eq!((failure.at.line, failure.at.column), (3, 5));
            failure.reason
        }
    }
}

#[tokio::test]
async fn a_paged_anonymous_read_yields_everyone_with_mail_once_in_lower_case() {
    let Some(server) = slapd::server() else { return };
    let read = read(spec(&server.url, slapd::PEOPLE, "(mail=*)"), env(&[])).await.expect("read");
    assert_eq!(read.people.len(), slapd::WITH_MAIL);
    assert_eq!(addresses(&read), expected(1..=slapd::WITH_MAIL));
    assert!(read.people.iter().all(|p| p.line.is_none()));
    assert_eq!(read.warnings, Vec::<String>::new());
}

/// What makes paging necessary: the server's limit for one search without paging is real.
#[tokio::test]
async fn the_server_stops_a_search_without_paging_at_100_entries() {
    let Some(server) = slapd::server() else { return };
    for bind in [None, Some((slapd::READER_DN, slapd::READER_PASSWORD))] {
        let (conn, mut ldap) = LdapConnAsync::new(&server.url).await.expect("connect");
        ldap3::drive!(conn);
        if let Some((dn, password)) = bind {
            ldap.simple_bind(dn, password).await.expect("bind").success().expect("bind accepted");
        }
        let ldap3::SearchResult(entries, result) =
            ldap.search(slapd::BASE, Scope::Subtree, "(mail=*)", vec!["mail"]).await.expect("search");
        assert_eq!(result.rc, 4, "size limit exceeded, as {bind:?}: {result:?}");
        assert_eq!(entries.len(), slapd::UNPAGED_LIMIT, "as {bind:?}");
        ldap.unbind().await.expect("unbind");
    }
    // Each page of the reader's is larger than that limit, and a page is one search.
    assert!(LDAP_PAGE_SIZE as usize > slapd::UNPAGED_LIMIT);
}

#[tokio::test]
async fn an_entry_without_the_attribute_fails_the_source_naming_its_dn() {
    let Some(server) = slapd::server() else { return };
    let reason = failure(read(spec(&server.url, slapd::PEOPLE, "(objectClass=inetOrgPerson)"), env(&[])).await);
    assert!(reason.starts_with(&format!("{} has no mail", slapd::NO_MAIL_DN)), "{reason}");
    assert!(reason.contains("missing: skip"), "{reason}");
}

#[tokio::test]
async fn missing_skip_leaves_the_entry_without_the_attribute_out_with_a_warning() {
    let Some(server) = slapd::server() else { return };
    let mut spec = spec(&server.url, slapd::PEOPLE, "(objectClass=inetOrgPerson)");
    spec.missing = Missing::Skip;
    let read = read(spec, env(&[])).await.expect("read");
    assert_eq!(addresses(&read), expected(1..=slapd::WITH_MAIL));
    assert_eq!(read.warnings, vec![format!("{} has no mail; skipped (missing: skip)", slapd::NO_MAIL_DN)]);
}

#[tokio::test]
async fn a_filter_selects_exactly_its_subset() {
    let Some(server) = slapd::server() else { return };
    let read =
        read(spec(&server.url, slapd::PEOPLE, "(&(objectClass=inetOrgPerson)(departmentNumber=eng))"), env(&[])).await.expect("read");
    assert_eq!(read.people.len(), slapd::WITH_MAIL / 2);
    // The odd-numbered people, written `Person0001@Example.COM` in the directory.
    assert_eq!(addresses(&read), expected((1..=slapd::WITH_MAIL).step_by(2)));
    assert!(read.people.iter().all(|p| p.email.as_str() == p.email.as_str().to_lowercase()));
    assert_eq!(read.warnings, Vec::<String>::new());
}

#[tokio::test]
async fn a_simple_bind_reads_the_dn_and_password_from_the_named_variables() {
    let Some(server) = slapd::server() else { return };
    let vars = env(&[(DN_VAR, slapd::READER_DN), (PASSWORD_VAR, slapd::READER_PASSWORD)]);
    let read = read(bound(spec(&server.url, slapd::PEOPLE, "(mail=*)")), vars).await.expect("read");
    assert_eq!(addresses(&read), expected(1..=slapd::WITH_MAIL));
}

#[tokio::test]
async fn a_wrong_password_is_invalid_credentials_and_never_shown() {
    let Some(server) = slapd::server() else { return };
    let wrong = "not-the-Password-9f3e";
    let vars = env(&[(DN_VAR, slapd::READER_DN), (PASSWORD_VAR, wrong)]);
    let reason = failure(read(bound(spec(&server.url, slapd::PEOPLE, "(mail=*)")), vars).await);
    assert!(reason.contains("invalid credentials"), "{reason}");
    assert!(reason.contains("bind_dn_env") && reason.contains("password_env"), "{reason}");
    assert!(!reason.contains(wrong), "{reason}");
    assert!(!reason.contains(slapd::READER_PASSWORD), "{reason}");
}

#[tokio::test]
async fn an_unset_bind_variable_is_named() {
    let Some(server) = slapd::server() else { return };
    let spec = bound(spec(&server.url, slapd::PEOPLE, "(mail=*)"));
    let reason = failure(read(spec.clone(), env(&[(DN_VAR, slapd::READER_DN)])).await);
    assert!(reason.starts_with(&format!("{PASSWORD_VAR} (the bind password) is not set")), "{reason}");
    // An empty password would be an unauthenticated bind, which the server accepts as anonymous.
    let reason = failure(read(spec.clone(), env(&[(DN_VAR, slapd::READER_DN), (PASSWORD_VAR, "")])).await);
    assert!(reason.starts_with(&format!("{PASSWORD_VAR} (the bind password) is not set or is empty")), "{reason}");
    let reason = failure(read(spec, env(&[(PASSWORD_VAR, slapd::READER_PASSWORD)])).await);
    assert!(reason.starts_with(&format!("{DN_VAR} (the bind DN) is not set")), "{reason}");
    assert!(!reason.contains(slapd::READER_PASSWORD), "{reason}");
}

/// The limited account's paged search gets a full first page, part of the second and then
/// "size limit exceeded": none of the 700 entries it saw may be used.
#[tokio::test]
async fn a_server_that_stops_the_paged_search_on_page_2_fails_the_whole_source() {
    let Some(server) = slapd::server() else { return };
    // What the server does: a full first page, then 200 entries of the second and result 4.
    let (conn, mut ldap) = LdapConnAsync::new(&server.url).await.expect("connect");
    ldap3::drive!(conn);
    ldap.simple_bind(slapd::LIMITED_DN, slapd::LIMITED_PASSWORD).await.expect("bind").success().expect("bind accepted");
    let adapters: Vec<Box<dyn Adapter<_, _>>> = vec![Box::new(EntriesOnly::new()), Box::new(PagedResults::new(LDAP_PAGE_SIZE))];
    let mut search = ldap.streaming_search_with(adapters, slapd::PEOPLE, Scope::Subtree, "(mail=*)", vec!["mail"]).await.expect("search");
    let mut entries = 0;
    while search.next().await.expect("an entry").is_some() {
        entries += 1;
    }
    assert_eq!(search.finish().await.rc, 4);
    assert_eq!(entries, slapd::LIMITED_TOTAL);
    assert!(slapd::LIMITED_TOTAL > LDAP_PAGE_SIZE as usize && slapd::LIMITED_TOTAL < 2 * LDAP_PAGE_SIZE as usize);
    ldap.unbind().await.expect("unbind");

    let vars = env(&[(DN_VAR, slapd::LIMITED_DN), (PASSWORD_VAR, slapd::LIMITED_PASSWORD)]);
    let reason = failure(read(bound(spec(&server.url, slapd::PEOPLE, "(mail=*)")), vars).await);
    assert!(reason.contains("result 4, size limit exceeded"), "{reason}");
    assert!(reason.contains("none of it is used"), "{reason}");
    assert!(reason.contains("size.prtotal"), "{reason}");
}

#[tokio::test]
async fn a_base_that_does_not_exist_is_no_such_object() {
    let Some(server) = slapd::server() else { return };
    let reason = failure(read(spec(&server.url, "ou=nobody,dc=example,dc=com", "(mail=*)"), env(&[])).await);
    assert!(reason.contains("no such object"), "{reason}");
    assert!(reason.contains("check `base`"), "{reason}");
}

/// A base the server holds as a referral to another server: result 10.
#[tokio::test]
async fn a_base_held_by_another_server_is_a_referral() {
    let Some(server) = slapd::server() else { return };
    let reason = failure(read(spec(&server.url, slapd::REMOTE, "(mail=*)"), env(&[])).await);
    assert!(reason.contains("result 10, referral"), "{reason}");
}

/// Part of the subtree is held by another server (a search result reference among the
/// entries): the people there are not in the read, so the read is partial and fails.
#[tokio::test]
async fn a_subtree_partly_held_by_another_server_fails_the_whole_source() {
    let Some(server) = slapd::server() else { return };
    let reason = failure(read(spec(&server.url, slapd::PARTNERS, "(mail=*)"), env(&[])).await);
    assert!(reason.contains("referral"), "{reason}");
    assert!(reason.contains("ldap://directory.invalid/"), "{reason}");
    assert!(reason.contains("none of it is used"), "{reason}");
}

/// Needs no `slapd`: a loopback port nothing listens on.
#[tokio::test]
async fn a_port_nothing_listens_on_is_a_refused_connection() {
    let port = {
        let listener = std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).expect("a free port");
        listener.local_addr().expect("its address").port()
    };
    let url = format!("ldap://127.0.0.1:{port}");
    let reason = failure(read(spec(&url, slapd::PEOPLE, "(mail=*)"), env(&[])).await);
    assert!(reason.contains("refused"), "{reason}");
    assert!(reason.starts_with(&url), "{reason}");
}

/// The TLS side of the server; `None` (the test is skipped, saying so) without `openssl`.
fn tls_server() -> Option<(&'static slapd::Slapd, &'static slapd::Tls)> {
    let server = slapd::server()?;
    match &server.tls {
        Some(tls) => Some((server, tls)),
        None => {
            assert!(std::env::var_os("CI").is_none_or(|v| v.is_empty()), "openssl is needed for the LDAP TLS tests in CI");
            eprintln!("skipping an LDAP TLS test: openssl is not installed");
            None
        }
    }
}

#[tokio::test]
async fn ldaps_to_a_certificate_no_one_trusts_is_one_clear_error() {
    let Some((_, tls)) = tls_server() else { return };
    let reason = failure(read(spec(&tls.ldaps_url, slapd::PEOPLE, "(mail=*)"), env(&[])).await);
    assert!(reason.contains("its TLS certificate is not trusted"), "{reason}");
    assert!(reason.contains("SSL_CERT_FILE"), "{reason}");
}

#[tokio::test]
async fn starttls_to_a_certificate_no_one_trusts_is_one_clear_error() {
    let Some((server, _)) = tls_server() else { return };
    let mut ldap = spec(&server.url, slapd::PEOPLE, "(mail=*)");
    ldap.starttls = true;
    let reason = failure(read(ldap, env(&[])).await);
    assert!(reason.contains("its TLS certificate is not trusted"), "{reason}");
}

/// Run by [`ssl_cert_file_makes_the_directory_trusted`] in a process of its own, whose
/// `SSL_CERT_FILE` names the file the support copies this process's test CA to
/// (`SLAPD_TEST_CA_COPY`): the variable is the process's, and the verifier reads it.
#[tokio::test]
#[ignore = "run by ssl_cert_file_makes_the_directory_trusted, with SSL_CERT_FILE set"]
async fn trusted_through_ssl_cert_file() {
    let Some((server, tls)) = tls_server() else { return };
    for url in [tls.ldaps_url.as_str(), server.url.as_str()] {
        let mut ldap = spec(url, slapd::PEOPLE, "(mail=*)");
        ldap.starttls = url.starts_with("ldap://");
        let read = read(ldap, env(&[])).await.unwrap_or_else(|f| panic!("{url}: {}", f.reason));
        assert_eq!(addresses(&read), expected(1..=slapd::WITH_MAIL), "{url}");
    }
}

#[test]
fn ssl_cert_file_makes_the_directory_trusted() {
    if slapd::server().is_none_or(|s| s.tls.is_none()) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = dir.path().join("ca.pem");
    let out = std::process::Command::new(std::env::current_exe().expect("this test binary"))
        .args(["--ignored", "--exact", "trusted_through_ssl_cert_file", "--nocapture"])
        .env("SSL_CERT_FILE", &ca)
        .env("SLAPD_TEST_CA_COPY", &ca)
        .output()
        .expect("the test binary runs");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
    assert!(text.contains("1 passed"), "the trusted read did not run:\n{text}");
}
