//! Serves the API and dashboard with an in-memory backend (the one the
//! tests use), for trying the dashboard in a browser and for schema-driven
//! test tools, without a resolver:
//! `cargo run -p hanse-api --example demo -- 127.56.1.1:8053 [ADMIN_TOKEN] [SECONDS]`.
//! Without a token, loopback clients are admin. It stops after SECONDS
//! (default 600).

#[path = "../tests/support/memory.rs"]
mod memory;

use std::net::TcpListener;
use std::time::Duration;

use hanse_api::{ApiConfig, Scope};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut arguments = std::env::args().skip(1);
    let address = arguments
        .next()
        .unwrap_or_else(|| "127.56.1.1:8053".to_owned());
    let token = arguments.next().filter(|token| !token.is_empty());
    let seconds: u64 = arguments.next().map_or(Ok(600), |text| text.parse())?;
    let config = ApiConfig {
        tokens: token
            .map(|token| vec![(token, Scope::Admin)])
            .unwrap_or_default(),
        ..ApiConfig::default()
    };
    let handle = hanse_api::serve(
        TcpListener::bind(&address)?,
        config,
        memory::TestBackend::new(),
    )?;
    println!("serving on http://{} for {seconds} s", handle.local_addr());
    std::thread::sleep(Duration::from_secs(seconds));
    handle.stop();
    Ok(())
}
