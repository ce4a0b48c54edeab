//! Test helpers shared by the wiremock tests of the client and the applier (each test file
//! includes this module and uses what it needs).

#![allow(dead_code)]

use std::time::Duration;

use serde_json::{Value, json};
use tallyfy_groups_api::{Client, ClientConfig, RetryPolicy, Secret};

/// A client for a local test server: no client-side rate limit, short timeouts and quick
/// retries (`attempts` in all), so failures show in milliseconds.
pub(crate) fn fast_client(url: &str, org: &str, token: &str, attempts: u32) -> Client {
    let mut config = ClientConfig::new(url, org, Secret::new(token));
    config.max_rps = 0.0;
    config.timeout = Duration::from_millis(500);
    config.retry = RetryPolicy {
        max_attempts: attempts,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
        max_total: Duration::from_secs(10),
    };
    Client::new(config).expect("client")
}

/// A group as Tallyfy's API writes it.
pub(crate) fn wire_group(id: &str, name: &str, members: &[u64]) -> Value {
    json!({"id": id, "name": name, "description": "d", "logo": null, "members": members, "guests": [], "created_at": "x", "last_updated": "y"})
}
