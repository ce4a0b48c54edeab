//! Serving the sandbox: on a listener until stopped ([`serve`], [`Served`]) or in-process on a
//! loopback port ([`Embedded`], for `--sandbox`), and its state file, read at start and written
//! (debounced) after writes. Does network and file I/O.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, MutexGuard};
use std::time::Duration;

use tokio::net::TcpListener;

use crate::config::{Config, DEFAULT_ORG, check_orgs};
use crate::file::{self, StateFile};
use crate::sandbox::{Sandbox, lock};
use crate::state::{Seed, State};

impl Sandbox {
    /// Writes the state file now, if there is one and anything changed.
    pub fn flush(&self) -> std::io::Result<()> {
        let Some(path) = &self.inner.config.persist else { return Ok(()) };
        if !self.inner.dirty.swap(false, Ordering::SeqCst) {
            return Ok(());
        }
        let json = self.encode().map_err(std::io::Error::other)?;
        // The state file's folder is the sandbox's own to make (a fresh machine has none).
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && !dir.exists()
        {
            std::fs::create_dir_all(dir)?;
            ignored_by_git(dir);
        }
        tallyfy_groups_core::saved::write_atomic(path, &json)
    }

    /// The state file's bytes: every organization served, and those kept.
    fn encode(&self) -> Result<Vec<u8>, serde_json::Error> {
        // Every organization's lock is held while the bytes are made, taken in the order of
        // their ids (a request takes one at a time).
        let guards: Vec<(&str, MutexGuard<'_, State>)> = self.inner.orgs.iter().map(|(org, o)| (org.as_str(), lock(&o.state))).collect();
        let all =
            guards.iter().map(|(org, state)| (*org, &**state)).chain(self.inner.kept.iter().map(|(org, state)| (org.as_str(), state)));
        file::encode(&all.collect())
    }

    /// Serves on `listener` until the task is dropped; flushes the state file every 200 ms.
    pub fn spawn(&self, listener: TcpListener) -> tokio::task::JoinHandle<()> {
        let app = self.router();
        if self.inner.config.persist.is_some() {
            let weak = Arc::downgrade(&self.inner);
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    let Some(inner) = weak.upgrade() else { break };
                    if let Err(e) = (Sandbox { inner }).flush() {
                        tracing::warn!(error = %e, "could not write the sandbox state");
                    }
                }
            });
        }
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "sandbox server stopped");
            }
        })
    }
}

/// Loads a state file, or says how to recover.
pub fn load_state(path: &Path) -> Result<Option<StateFile>, String> {
    match std::fs::read(path) {
        Ok(bytes) => StateFile::parse(&bytes)
            .map(Some)
            .map_err(|e| format!("the sandbox state {} is not readable ({e}); delete it to start over", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read the sandbox state {}: {e}", path.display())),
    }
}

/// How a saved plan's target names an embedded sandbox: this prefix and the state file's path.
pub const LABEL_PREFIX: &str = "sandbox:";

/// An in-process sandbox on an ephemeral loopback port, for `--sandbox`.
pub struct Embedded {
    /// The API's base URL, `http://127.0.0.1:PORT/api`.
    pub base_url: String,
    /// The organizations served, in the order asked for (duplicates collapsed).
    pub orgs: Vec<String>,
    /// A bearer token it accepts.
    pub token: String,
    /// A stable name for this sandbox, used as a saved plan's target.
    pub label: String,
    sandbox: Sandbox,
    server: tokio::task::JoinHandle<()>,
}

impl Embedded {
    /// Starts the sandbox with the state in `path`, serving the organization `sandbox` (seeded
    /// with the demo organization on first use).
    pub async fn start(path: &Path) -> Result<Embedded, String> {
        Embedded::start_orgs(path, &[DEFAULT_ORG.to_string()]).await
    }

    /// Starts one sandbox serving exactly `orgs` (plain path segments; duplicates collapse),
    /// with their states in the one file `path`: an organization the file lacks (every one, on
    /// first use) starts as the demo organization, and the file is written at once; the file's
    /// other organizations are kept in it. A file that cannot be read is left alone.
    pub async fn start_orgs(path: &Path, orgs: &[String]) -> Result<Embedded, String> {
        let orgs = check_orgs(orgs)?;
        let file = load_state(path)?;
        let config = Config { orgs: orgs.clone(), persist: Some(path.to_path_buf()), ..Config::default() };
        let sandbox = Sandbox::load(file, Seed::Demo, config.clone());
        sandbox.flush().map_err(|e| format!("cannot create the sandbox state {}: {e}", path.display()))?;
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.map_err(|e| format!("cannot listen on loopback: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let server = sandbox.spawn(listener);
        Ok(Embedded {
            base_url: format!("http://{addr}/api"),
            orgs,
            token: config.token,
            label: format!("{LABEL_PREFIX}{}", path.display()),
            sandbox,
            server,
        })
    }

    /// The first organization served (the only one, after [`Embedded::start`]).
    pub fn org(&self) -> &str {
        self.orgs.first().map(String::as_str).unwrap_or(DEFAULT_ORG)
    }
}

impl Drop for Embedded {
    fn drop(&mut self) {
        self.server.abort();
        if let Err(e) = self.sandbox.flush() {
            eprintln!("warning: could not save the sandbox state: {e}");
        }
    }
}

/// A sandbox serving on a listener until [`Served::stop`].
pub struct Served {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// What it serves.
    pub sandbox: Sandbox,
    server: tokio::task::JoinHandle<()>,
}

/// Starts serving `sandbox` on `listen`.
pub async fn serve(sandbox: Sandbox, listen: SocketAddr) -> Result<Served, String> {
    // A new state file is written at once, not only after the first change.
    sandbox.inner.dirty.store(true, Ordering::SeqCst);
    let listener = TcpListener::bind(listen).await.map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let addr: SocketAddr = listener.local_addr().map_err(|e| e.to_string())?;
    let server = sandbox.spawn(listener);
    Ok(Served { addr, sandbox, server })
}

impl Served {
    /// Stops serving and writes the state file.
    pub fn stop(self) -> Result<(), String> {
        self.server.abort();
        self.sandbox.flush().map_err(|e| format!("could not save the sandbox state: {e}"))
    }
}

/// A folder the sandbox made for its state inside a Git work tree gets a `.gitignore` of its
/// own holding `*`, so that the state is never committed by accident (the repository's own
/// `.gitignore` is not touched). Best effort: a folder that cannot take it is left as it is.
fn ignored_by_git(dir: &std::path::Path) {
    let absolute = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    if absolute.ancestors().any(|d| d.join(".git").exists()) {
        let _ = std::fs::write(dir.join(".gitignore"), "# Made by tallyfy-groups: the sandbox's state is not for Git.\n*\n");
    }
}
