//! `brygga init`: a development node, its keys and its configuration.

use std::path::PathBuf;

use clap::Args;

use super::{CmdResult, Failure};
use crate::config::dev_node::{self, DevNodeError, DevNodeOptions};
use crate::config::FunctionalAddress;

#[derive(Args)]
pub struct InitArgs {
    /// The organisation's name.
    #[arg(long, value_name = "NAME")]
    org: String,
    /// The organisation's participant id, 0203: followed by its domain.
    #[arg(long, value_name = "0203:DOMAIN")]
    org_id: String,
    /// The node's directory: node.toml, keys/, trust/, data/. Nothing in it is overwritten.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// The development CAs, shared by every node that should trust the others;
    /// created on first use. Default: DIR/ca (trusted by this node only).
    #[arg(long, value_name = "DIR")]
    ca_dir: Option<PathBuf>,
    /// The organisation number (10 digits); made up from the id when absent.
    #[arg(long, value_name = "NNNNNN-NNNN")]
    org_number: Option<String>,
    /// A functional address the node receives for, ID or ID=LABEL; repeatable.
    /// Default: intake=Intake.
    #[arg(long = "functional-address", value_name = "ID[=LABEL]")]
    functional_addresses: Vec<String>,
    /// The access point id (the AS4 PartyId); assigned from the CA directory when absent.
    #[arg(long, value_name = "AP-ID")]
    ap_id: Option<String>,
}

pub(super) fn run(args: InitArgs) -> CmdResult {
    let functional_addresses = if args.functional_addresses.is_empty() {
        vec![FunctionalAddress { id: "intake".into(), label: "Intake".into() }]
    } else {
        args.functional_addresses
            .iter()
            .map(|a| match a.split_once('=') {
                Some((id, label)) => FunctionalAddress { id: id.to_owned(), label: label.to_owned() },
                None => FunctionalAddress { id: a.clone(), label: a.clone() },
            })
            .collect()
    };
    let options = DevNodeOptions {
        organisation_name: args.org,
        organisation_id: args.org_id,
        organisation_number: args.org_number,
        functional_addresses,
        access_point_id: args.ap_id,
        ca_dir: args.ca_dir.unwrap_or_else(|| args.out.join("ca")),
        out_dir: args.out,
    };
    let node = dev_node::init(&options).map_err(|e| match e {
        DevNodeError::InvalidOption(_) | DevNodeError::Exists(_) => Failure::usage(format!("init: {e}")),
        other => Failure { code: super::EXIT_USAGE, lines: vec![format!("init failed: {other}")] },
    })?;

    // Paths only: key material is never printed.
    let mut out = String::new();
    for file in &node.written {
        let note = if file.secret { "  (private key, mode 0600)" } else { "" };
        out.push_str(&format!("wrote {}{note}\n", file.path.display()));
    }
    if !node.created_cas {
        out.push_str(&format!("reused the development CAs in {}\n", options.ca_dir.display()));
    }
    out.push_str(&format!(
        "\n{} ({}), organisation number {}\naccess point {}: AS4 on {}, API on {}\nconfiguration: {} (loads)\n",
        options.organisation_name.trim(),
        options.organisation_id,
        node.organisation_number,
        node.access_point_id,
        node.listen.as4,
        node.listen.api,
        node.config_file.display(),
    ));
    out.push_str(&format!(
        "development only: every node initialised with --ca-dir {} trusts this one\n",
        options.ca_dir.display()
    ));
    super::write_stdout(out.as_bytes())
}
