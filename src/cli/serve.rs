//! `brygga serve --config FILE`: runs a node until Ctrl-C or SIGTERM.

use std::path::PathBuf;

use clap::Args;

use super::{CmdResult, Failure};
use crate::config::NodeConfig;

#[derive(Args)]
pub(super) struct ServeArgs {
    /// The node's configuration (see config/example-node.toml).
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
}

pub(super) fn run(args: ServeArgs) -> CmdResult {
    // Logs go to stderr; RUST_LOG tunes them. They carry ids and states,
    // never message content or person identifiers.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    // Every configuration error names file, key and reason before anything starts.
    let config = NodeConfig::load(&args.config).map_err(|e| Failure::usage(e.to_string()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::usage(format!("cannot start the runtime: {e}")))?;
    runtime.block_on(crate::node::serve::run(config)).map_err(|e| Failure::usage(e.to_string()))
}
