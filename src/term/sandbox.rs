//! `tallyfy-groups sandbox`: turns the command line into the sandbox's configuration, serves
//! until Ctrl-C and says where. Does terminal and network I/O.

use std::time::Duration;

use tallyfy_groups_sandbox::{self as sandbox, Config, Sandbox, Seed};

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
    let orgs = sandbox::check_orgs(&args.org)?;
    let file = match &args.state {
        Some(path) => sandbox::load_state(path)?,
        None => None,
    };
    let seed = if args.seed_users + args.seed_groups + args.seed_guests + args.seed_templates == 0 {
        Seed::Demo
    } else {
        Seed::Generated { users: args.seed_users, groups: args.seed_groups, guests: args.seed_guests, templates: args.seed_templates }
    };
    let config = Config {
        token: args.token.clone(),
        client_id: args.client_id.clone(),
        client_secret: args.client_secret.clone(),
        token_ttl: Duration::from_secs_f64(args.token_ttl),
        token_uses: args.token_uses,
        orgs,
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
    let served = sandbox::serve(Sandbox::load(file, seed, config), args.listen).await?;
    let addr = served.addr;
    let sizes: Vec<String> = served
        .sandbox
        .orgs()
        .iter()
        .filter_map(|org| served.sandbox.snapshot_of(org).map(|s| (org, s)))
        .map(|(org, s)| format!("{org}: {} users, {} groups, {} guests", s.users.len(), s.groups.len(), s.guests.len()))
        .collect();
    let orgs = match sizes.as_slice() {
        [one] => format!("organization {one}"),
        more => format!("organizations\n    {}", more.join("\n    ")),
    };
    // The token and the client credentials are the sandbox's own, not Tallyfy secrets, so they
    // are shown for convenience.
    eprintln!(
        "Tallyfy sandbox listening on http://{addr}/api\n  {orgs}\n  token: {}\n  client credentials: id {}, secret {} (POST http://{addr}/oauth/token)\n  request counts: http://{addr}/_sandbox/stats, state: http://{addr}/_sandbox/state\nPress Ctrl-C to stop.",
        args.token, args.client_id, args.client_secret
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
            SandboxQuirk::TemplatesWithoutSteps => sandbox::Quirk::TemplatesWithoutSteps,
            SandboxQuirk::StepsAsData => sandbox::Quirk::StepsAsData,
        }
    }
}
