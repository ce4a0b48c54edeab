//! `tallyfy-groups sandbox`: turns the command line into the sandbox's configuration, serves
//! until Ctrl-C and says where. Does terminal and network I/O.

use std::time::Duration;

use tallyfy_groups_sandbox::{self as sandbox, Config, State};

use crate::cli::{SandboxArgs, SandboxQuirk};

/// Serves until Ctrl-C.
pub async fn serve_command(args: SandboxArgs) -> Result<(), String> {
    if !args.listen.ip().is_loopback() && !args.allow_remote {
        return Err(format!("refusing to listen on {}: the sandbox binds to loopback unless --allow-remote is given", args.listen));
    }
    if !(0.0..=1.0).contains(&args.fault_rate) {
        return Err(format!("--fault-rate must be between 0 and 1, not {}", args.fault_rate));
    }
    if !args.rate_limit.is_finite() || args.rate_limit < 0.0 {
        return Err(format!("--rate-limit must be 0 (off) or a positive number, not {}", args.rate_limit));
    }
    let fault_methods = sandbox::fault_methods(&args.fault_methods)?;
    let existing = match &args.state {
        Some(path) => sandbox::load_state(path)?,
        None => None,
    };
    let state = existing.unwrap_or_else(|| {
        if args.seed_users + args.seed_groups + args.seed_guests == 0 {
            State::demo()
        } else {
            State::seeded(args.seed_users, args.seed_groups, args.seed_guests)
        }
    });
    let (users, groups, guests) = (state.users.len(), state.groups.len(), state.guests.len());
    let config = Config {
        token: args.token.clone(),
        client_id: args.client_id.clone(),
        client_secret: args.client_secret.clone(),
        token_ttl: Duration::from_secs_f64(args.token_ttl),
        token_uses: args.token_uses,
        org: args.org.clone(),
        latency: Duration::from_millis(args.latency),
        fault_rate: args.fault_rate,
        rate_limit: args.rate_limit,
        rate_limit_per_minute: args.rate_limit_per_minute,
        fault_methods,
        fault_seed: args.fault_seed,
        persist: args.state.clone(),
        guest_limit: args.guest_limit,
        quirks: args.quirk.iter().map(|q| q.into()).collect(),
        strict_guests: args.strict_guests,
    };
    let served = sandbox::serve(state, config, args.listen).await?;
    let addr = served.addr;
    // The token and the client credentials are the sandbox's own, not Tallyfy secrets, so they
    // are shown for convenience.
    eprintln!(
        "Tallyfy sandbox listening on http://{addr}/api\n  organization: {}\n  token: {}\n  client credentials: id {}, secret {} (POST http://{addr}/oauth/token)\n  {users} users, {groups} groups, {guests} guests\n  request counts: http://{addr}/_sandbox/stats, state: http://{addr}/_sandbox/state\nPress Ctrl-C to stop.",
        args.org, args.token, args.client_id, args.client_secret
    );
    let _ = tokio::signal::ctrl_c().await;
    served.stop()
}

impl From<&SandboxQuirk> for sandbox::Quirk {
    fn from(q: &SandboxQuirk) -> Self {
        match q {
            SandboxQuirk::ListWithoutLists => sandbox::Quirk::ListWithoutLists,
            SandboxQuirk::JunkMembers => sandbox::Quirk::JunkMembers,
            SandboxQuirk::LyingPagination => sandbox::Quirk::LyingPagination,
            SandboxQuirk::EditAfterRead => sandbox::Quirk::EditAfterRead,
        }
    }
}
