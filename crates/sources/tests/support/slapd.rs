//! A real OpenLDAP `slapd` for the LDAP reader's tests, one per test binary, started on first
//! use from a temporary folder: a `slapd.conf`, a directory loaded with `slapadd` (1,200 people
//! with `mail`, one without, a reader account and a limited account) and the server listening
//! on a free loopback port.
//!
//! The server outlives every test (statics are never dropped), so a watchdog stops it: a shell
//! whose standard input is a pipe from the test process. The pipe ends when the test process
//! exits, however it exits (a failed test, a panic, a signal), and the watchdog then stops
//! `slapd` and removes the folder. Both run in process groups of their own, so an interrupt at
//! the terminal reaches the test process alone and the watchdog still cleans up.
//!
//! Where `slapd` is not installed, [`server`] says once that the tests are skipped and returns
//! `None`, unless `CI` is set: CI must run them, so there it fails.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The suffix of the directory.
pub(crate) const BASE: &str = "dc=example,dc=com";
/// Where the people are.
pub(crate) const PEOPLE: &str = "ou=people,dc=example,dc=com";
/// How many people have a `mail` (`person0001` to `person1200`); the odd-numbered half are in
/// `departmentNumber: eng`, the others in `ops`.
pub(crate) const WITH_MAIL: usize = 1200;
/// The one person (an `inetOrgPerson`, in no department) without `mail`.
pub(crate) const NO_MAIL_DN: &str = "uid=nomail,ou=people,dc=example,dc=com";
/// An account that may read everything, with the same per-search limit as anonymous.
pub(crate) const READER_DN: &str = "cn=reader,dc=example,dc=com";
/// The reader's password.
pub(crate) const READER_PASSWORD: &str = "reader-secret-4711";
/// An account whose paged searches stop after [`LIMITED_TOTAL`] entries.
pub(crate) const LIMITED_DN: &str = "cn=limited,dc=example,dc=com";
/// The limited account's password.
pub(crate) const LIMITED_PASSWORD: &str = "limited-secret-0815";
/// The most entries one search without paging returns (anonymous and the reader): a search for
/// more ends with "size limit exceeded".
pub(crate) const UNPAGED_LIMIT: usize = 100;
/// The most entries the limited account's paged search returns in all: more than one page of
/// the reader's (500), fewer than two, so its search fails on page 2.
pub(crate) const LIMITED_TOTAL: usize = 700;
/// A subtree with one person and a referral to another server (`ou=remote`).
pub(crate) const PARTNERS: &str = "ou=partners,dc=example,dc=com";
/// The referral's entry: the base of a search the server refers elsewhere.
pub(crate) const REMOTE: &str = "ou=remote,ou=partners,dc=example,dc=com";

/// The TLS side of the server.
pub(crate) struct Tls {
    /// `ldaps://127.0.0.1:PORT/`.
    pub(crate) ldaps_url: String,
}

/// Makes a CA and a server certificate for 127.0.0.1 and localhost in `dir` with `openssl`
/// (P-256 keys: fast to make); `None` where `openssl` is not installed.
fn certificates(dir: &Path) -> Result<Option<()>, String> {
    let Some(openssl) = find_program("openssl") else { return Ok(None) };
    let run = |args: &[&str]| -> Result<(), String> {
        let out = Command::new(&openssl).args(args).current_dir(dir).stdin(Stdio::null()).output().map_err(|e| format!("openssl: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!("openssl {} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr)))
        }
    };
    let key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    run(&[&["req", "-x509"][..], &key, &["-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=tallyfy-groups test CA"]]
        .concat())?;
    run(&[&["req"][..], &key, &["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"]].concat())?;
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .map_err(|e| format!("server.ext: {e}"))?;
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "server.ext",
    ])?;
    // A test that reads through `SSL_CERT_FILE` runs in a process of its own, started with the
    // variable naming this copy of the CA.
    if let Some(copy) = std::env::var_os("SLAPD_TEST_CA_COPY") {
        std::fs::copy(dir.join("ca.pem"), &copy).map_err(|e| format!("copying the test CA: {e}"))?;
    }
    Ok(Some(()))
}

/// Said when `slapd` fails to start.
const APPARMOR: &str = "\n(where AppArmor confines /usr/sbin/slapd, as Ubuntu's package does, it may not read or write \
     temporary folders: `sudo apparmor_parser -R /etc/apparmor.d/usr.sbin.slapd` lifts that)";

/// The running server.
pub(crate) struct Slapd {
    /// `ldap://127.0.0.1:PORT/` (StartTLS offered when [`Slapd::tls`] is set).
    pub(crate) url: String,
    /// With `openssl` installed: the server also speaks TLS, with a certificate for 127.0.0.1
    /// and `localhost` signed by a throwaway CA that no system trusts.
    pub(crate) tls: Option<Tls>,
    slapd: Child,
    _watchdog: Child,
    /// The watchdog's standard input: closed when the process exits, never before.
    _watch: ChildStdin,
}

static SERVER: OnceLock<Result<Option<Slapd>, String>> = OnceLock::new();

/// The shared server, started on first use; `None` where `slapd` is not installed (and `CI` is
/// not set). Panics when it cannot be started.
pub(crate) fn server() -> Option<&'static Slapd> {
    match SERVER.get_or_init(start) {
        Ok(server) => server.as_ref(),
        Err(why) => panic!("{why}"),
    }
}

/// The installation's programs and files.
struct Install {
    slapd: PathBuf,
    slapadd: PathBuf,
    schema: PathBuf,
    /// The folder of a loadable `back_mdb`; `None` where it is built in.
    modules: Option<PathBuf>,
}

fn start() -> Result<Option<Slapd>, String> {
    let install = match find_install() {
        Ok(install) => install,
        Err(missing) => {
            if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
                return Err(format!(
                    "{missing}, and CI is set: the LDAP tests must run in CI (install OpenLDAP's server: the `slapd` package)"
                ));
            }
            // Written past the test harness's capture, so that the skip is seen.
            let _ = writeln!(std::io::stderr(), "skipping the LDAP tests against a real directory: {missing} (with CI set, this fails)");
            return Ok(None);
        }
    };
    // A port found free may be taken before `slapd` binds it: try again with another.
    let mut last = String::new();
    for _ in 0..3 {
        match launch(&install)? {
            Ok(server) => return Ok(Some(server)),
            Err(why) => last = why,
        }
    }
    Err(last)
}

fn find_install() -> Result<Install, String> {
    let slapd = find_program("slapd").ok_or("slapd is not installed (not in /usr/sbin or on PATH)")?;
    let slapadd = slapd
        .parent()
        .map(|dir| dir.join("slapadd"))
        .filter(|p| p.is_file())
        .or_else(|| find_program("slapadd"))
        .ok_or("slapadd is not installed")?;
    let schema = ["/etc/ldap/schema", "/etc/openldap/schema", "/usr/local/etc/openldap/schema", "/opt/homebrew/etc/openldap/schema"]
        .iter()
        .map(PathBuf::from)
        .find(|dir| ["core", "cosine", "inetorgperson"].iter().all(|s| dir.join(format!("{s}.schema")).is_file()))
        .ok_or("the OpenLDAP schema files (core, cosine, inetorgperson) were not found")?;
    let modules = ["/usr/lib/ldap", "/usr/lib64/openldap", "/usr/lib/openldap", "/usr/libexec/openldap", "/usr/local/libexec/openldap"]
        .iter()
        .map(PathBuf::from)
        .find(|dir| dir.join("back_mdb.so").exists() || dir.join("back_mdb.la").exists());
    Ok(Install { slapd, slapadd, schema, modules })
}

fn find_program(name: &str) -> Option<PathBuf> {
    let sbin = Path::new("/usr/sbin").join(name);
    if sbin.is_file() {
        return Some(sbin);
    }
    std::env::split_paths(&std::env::var_os("PATH")?).map(|dir| dir.join(name)).find(|p| p.is_file())
}

/// One attempt: the outer error is final, the inner one worth another port.
fn launch(install: &Install) -> Result<Result<Slapd, String>, String> {
    let dir = tempfile::Builder::new().prefix("slapd-test-").tempdir().map_err(|e| format!("a temporary folder: {e}"))?;
    let db = dir.path().join("db");
    std::fs::create_dir(&db).map_err(|e| format!("{}: {e}", db.display()))?;
    let tls = certificates(dir.path())?.is_some();
    let conf = dir.path().join("slapd.conf");
    std::fs::write(&conf, config(install, dir.path(), tls)).map_err(|e| format!("{}: {e}", conf.display()))?;
    let ldif = dir.path().join("people.ldif");
    std::fs::write(&ldif, directory()).map_err(|e| format!("{}: {e}", ldif.display()))?;

    let loaded = Command::new(&install.slapadd)
        .arg("-q")
        .arg("-f")
        .arg(&conf)
        .arg("-l")
        .arg(&ldif)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{} could not run: {e}", install.slapadd.display()))?;
    if !loaded.status.success() {
        return Err(format!(
            "slapadd failed ({}): {}{}",
            loaded.status,
            String::from_utf8_lossy(&loaded.stdout),
            String::from_utf8_lossy(&loaded.stderr)
        ));
    }

    let port = free_port()?;
    let url = format!("ldap://127.0.0.1:{port}/");
    let tls_port = if tls { Some(free_port()?) } else { None };
    let listen = match tls_port {
        Some(p) => format!("{url} ldaps://127.0.0.1:{p}/"),
        None => url.clone(),
    };
    let log_path = dir.path().join("slapd.log");
    let log = std::fs::File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
    let log2 = log.try_clone().map_err(|e| format!("{}: {e}", log_path.display()))?;
    // `-d 0`: in the foreground (a child that can be watched), logging nothing but errors.
    let mut slapd = Command::new(&install.slapd)
        .arg("-f")
        .arg(&conf)
        .arg("-h")
        .arg(&listen)
        .arg("-d")
        .arg("0")
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        .process_group(0)
        .spawn()
        .map_err(|e| format!("{} could not run: {e}", install.slapd.display()))?;
    // From here the watchdog removes the folder, after `slapd` has stopped.
    let dir = dir.keep();
    let watchdog = Command::new("/bin/sh")
        .arg("-c")
        .arg(WATCHDOG)
        .arg("slapd-watchdog")
        .arg(slapd.id().to_string())
        .arg(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn();
    let mut watchdog = match watchdog {
        Ok(watchdog) => watchdog,
        Err(e) => {
            let _ = slapd.kill();
            let _ = slapd.wait();
            let _ = std::fs::remove_dir_all(&dir);
            return Err(format!("/bin/sh could not run: {e}"));
        }
    };
    let watch = watchdog.stdin.take().expect("a piped stdin");
    let tls = tls_port.map(|p| Tls { ldaps_url: format!("ldaps://127.0.0.1:{p}/") });
    let server = Slapd { url, tls, slapd, _watchdog: watchdog, _watch: watch };
    let server = match wait_ready(server, port, &log_path) {
        Ok(server) => server,
        Err(why) => return Ok(Err(why)),
    };
    Ok(match tls_port {
        Some(p) => wait_ready(server, p, &log_path),
        None => Ok(server),
    })
}

/// `$1`: the pid of `slapd`; `$2`: the folder to remove. Waits for the end of its standard
/// input (the test process has exited), stops `slapd` (it shuts down on SIGTERM, removing its
/// pid file last) and waits a few seconds at most for it to finish before removing the folder.
/// Both the pid file and the process are watched: a process that has exited may linger as a
/// zombie until the system reaps it, and one that crashed leaves its pid file behind.
const WATCHDOG: &str = r#"read -r _ || :
kill "$1" 2>/dev/null
i=0
while [ -e "$2/slapd.pid" ] && kill -0 "$1" 2>/dev/null && [ "$i" -lt 50 ]; do
    sleep 0.1
    i=$((i + 1))
done
rm -rf "$2"
"#;

/// Polls the port until `slapd` accepts connections (it listens once the database is open), or
/// it exits, or 10 s pass.
fn wait_ready(mut server: Slapd, port: u16, log: &Path) -> Result<Slapd, String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut backoff = Duration::from_millis(2);
    loop {
        if TcpStream::connect_timeout(&(Ipv4Addr::LOCALHOST, port).into(), Duration::from_millis(200)).is_ok() {
            return Ok(server);
        }
        let exited = match server.slapd.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            Ok(None) => None,
            Err(e) => Some(e.to_string()),
        };
        if exited.is_some() || Instant::now() >= deadline {
            let what = exited.map_or_else(|| "did not listen within 10 s".to_string(), |status| format!("exited ({status})"));
            let mut why = format!("slapd {what} on port {port}; its log:\n{}", std::fs::read_to_string(log).unwrap_or_default());
            why.push_str(APPARMOR);
            let _ = server.slapd.kill();
            let _ = server.slapd.wait();
            // Dropping the server closes the watchdog's pipe: it removes the folder.
            return Err(why);
        }
        std::thread::sleep(backoff);
        backoff = (backoff * 2).min(Duration::from_millis(100));
    }
}

fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|e| format!("a free port: {e}"))?;
    listener.local_addr().map(|a| a.port()).map_err(|e| format!("a free port: {e}"))
}

fn config(install: &Install, dir: &Path, tls: bool) -> String {
    let mut conf = String::new();
    for schema in ["core", "cosine", "inetorgperson"] {
        let _ = writeln!(conf, "include {}", install.schema.join(format!("{schema}.schema")).display());
    }
    if let Some(modules) = &install.modules {
        let _ = writeln!(conf, "modulepath {}\nmoduleload back_mdb", modules.display());
    }
    let _ = writeln!(conf, "pidfile {}\nargsfile {}", dir.join("slapd.pid").display(), dir.join("slapd.args").display());
    if tls {
        let _ = writeln!(
            conf,
            "TLSCACertificateFile {}\nTLSCertificateFile {}\nTLSCertificateKeyFile {}",
            dir.join("ca.pem").display(),
            dir.join("server.pem").display(),
            dir.join("server.key").display()
        );
    }
    // Passwords may be used to bind and never read; everything else anyone may read.
    conf.push_str("access to attrs=userPassword by anonymous auth by * none\naccess to * by * read\n");
    let _ = writeln!(
        conf,
        r#"database mdb
suffix "{BASE}"
rootdn "cn=admin,{BASE}"
rootpw admin-secret
directory {}
maxsize 104857600
limits anonymous size.soft={UNPAGED_LIMIT} size.hard={UNPAGED_LIMIT} size.prtotal=unlimited
limits dn.exact="{READER_DN}" size.soft={UNPAGED_LIMIT} size.hard={UNPAGED_LIMIT} size.prtotal=unlimited
limits dn.exact="{LIMITED_DN}" size.soft={UNPAGED_LIMIT} size.hard={UNPAGED_LIMIT} size.pr=500 size.prtotal={LIMITED_TOTAL}"#,
        dir.join("db").display()
    );
    conf
}

/// The directory as LDIF. Addresses are written in mixed case (`Person0001@Example.COM`).
fn directory() -> String {
    let mut ldif = format!(
        "dn: {BASE}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n\n\
         dn: {PEOPLE}\nobjectClass: organizationalUnit\nou: people\n\n\
         dn: ou=groups,{BASE}\nobjectClass: organizationalUnit\nou: groups\n\n\
         dn: {READER_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: reader\nuserPassword: {READER_PASSWORD}\n\n\
         dn: {LIMITED_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: limited\nuserPassword: {LIMITED_PASSWORD}\n\n"
    );
    for i in 1..=WITH_MAIL {
        let department = if i % 2 == 1 { "eng" } else { "ops" };
        let _ = write!(
            ldif,
            "dn: uid=person{i:04},{PEOPLE}\nobjectClass: inetOrgPerson\nuid: person{i:04}\ncn: Person {i}\nsn: {i}\n\
             mail: Person{i:04}@Example.COM\ndepartmentNumber: {department}\n\n"
        );
    }
    let _ = write!(
        ldif,
        "dn: {NO_MAIL_DN}\nobjectClass: inetOrgPerson\nuid: nomail\ncn: No Mail\nsn: Mail\n\n\
         dn: {PARTNERS}\nobjectClass: organizationalUnit\nou: partners\n\n\
         dn: uid=partner1,{PARTNERS}\nobjectClass: inetOrgPerson\nuid: partner1\ncn: Partner 1\nsn: 1\nmail: partner1@example.com\n\n\
         dn: {REMOTE}\nobjectClass: referral\nobjectClass: extensibleObject\nou: remote\nref: ldap://directory.invalid/{REMOTE}\n"
    );
    ldif
}

/// The expected address of person `i` (normalised: lower case).
pub(crate) fn address(i: usize) -> String {
    format!("person{i:04}@example.com")
}
