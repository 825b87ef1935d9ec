//! Runs the mock FTN broker alone.
//!
//!     cargo run --example mock_broker -- config/mock-idp.toml

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use tunnus::clock::SystemClock;
use tunnus::mock_idp::{MockIdp, load_settings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let path = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .context("usage: mock_broker <config file with a [mock_idp] table>")?;
    let settings = load_settings(&path)?;
    let persons = settings.test_persons()?;
    let idp = MockIdp::bind(settings, persons.clone(), Arc::new(SystemClock)).await?;

    println!("issuer: {}", idp.issuer());
    println!("clients: {}", idp.client_ids().join(", "));
    println!("activity: {}", idp.activity_url());
    for person in &persons {
        println!("  {}  {}", person.masked_national_id(), person.full_name());
    }
    idp.serve(async {
        // Without a Ctrl-C handler the broker runs until it is killed.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    })
    .await?;
    Ok(())
}
