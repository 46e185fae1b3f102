//! A development network on this machine: fresh keys for each
//! organisation (`brygga init` logic), one SMP publishing them all, and a
//! node per organisation, every listener on loopback with OS-chosen ports.
//! The demo and the integration tests run on it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::runtime::{NodeError, Shared};
use super::serve::{self, Bound};
use crate::config::dev_node::{self, DevNodeOptions};
use crate::config::{FunctionalAddress, NodeConfig};
use crate::directory::{self, CertPub, DocumentTypeId, Endpoint, ParticipantId, Participant, ProcessId};
use crate::pki::{Certificate, PrivateKey};

/// One organisation to run a node for.
#[derive(Debug, Clone)]
pub struct DevOrg {
    pub name: String,
    pub org_id: String,
    pub functional_address: String,
}

impl DevOrg {
    pub fn new(name: &str, org_id: &str, functional_address: &str) -> Self {
        Self { name: name.to_owned(), org_id: org_id.to_owned(), functional_address: functional_address.to_owned() }
    }
}

/// A running node of the network.
pub struct DevNode {
    pub org: DevOrg,
    pub state: Shared,
    pub bound: Bound,
    pub config_file: PathBuf,
    stop: watch::Sender<bool>,
    task: JoinHandle<Result<(), NodeError>>,
}

impl DevNode {
    /// Stops this node and waits for it (graceful: in-flight work drains).
    pub async fn stop(self) -> Result<(), NodeError> {
        let _ = self.stop.send(true);
        self.task.await.map_err(|e| NodeError::Other(e.to_string()))?
    }
}

/// The SMP and the nodes.
pub struct DevNetwork {
    pub dir: PathBuf,
    pub smp: SocketAddr,
    pub nodes: Vec<DevNode>,
    smp_stop: watch::Sender<bool>,
}

fn other(e: impl std::fmt::Display) -> NodeError {
    NodeError::Other(e.to_string())
}

/// Loads a node's configuration with loopback listeners on free ports and
/// the network's SMP.
pub fn load_config(config_file: &Path, smp: SocketAddr) -> Result<NodeConfig, NodeError> {
    let mut config = NodeConfig::load(config_file).map_err(other)?;
    config.listen.as4 = SocketAddr::from(([127, 0, 0, 1], 0));
    config.listen.api = SocketAddr::from(([127, 0, 0, 1], 0));
    config.smp.base_url = format!("http://{smp}/");
    Ok(config)
}

/// Starts the node configured in `config_file`; it stops when `stop` flips.
pub async fn start_node(org: DevOrg, config_file: PathBuf, smp: SocketAddr) -> Result<DevNode, NodeError> {
    let config = load_config(&config_file, smp)?;
    let (stop, mut stop_rx) = watch::channel(false);
    let (bound, state, run) = serve::start(config, async move {
        let _ = stop_rx.changed().await;
    })
    .await?;
    let task = tokio::spawn(run);
    Ok(DevNode { org, state, bound, config_file, stop, task })
}

/// What SMP publishes for a node.
fn participant(node: &DevNode) -> Result<Participant, NodeError> {
    let keys = &node.state.config.keys;
    Ok(Participant {
        id: ParticipantId::new(&node.org.org_id).map_err(other)?,
        document_types: vec![DocumentTypeId::sdk_message_v3(), DocumentTypeId::sdk_receipt()],
        process: ProcessId::sdk(),
        endpoint: Endpoint::as4(&format!("https://127.0.0.1:{}/as4", node.bound.as4.port()), keys.access_point.certificate().clone()),
        certpub: CertPub {
            signing: vec![keys.org_signing.certificate().clone()],
            encryption: vec![keys.org_encryption.certificate().clone()],
        },
    })
}

impl DevNetwork {
    /// Makes keys and configuration for `orgs` under `dir`, starts an SMP
    /// and a node per organisation.
    pub async fn start(dir: &Path, orgs: &[DevOrg]) -> Result<DevNetwork, NodeError> {
        let ca_dir = dir.join("ca");
        let smp_listener = TcpListener::bind("127.0.0.1:0").await.map_err(other)?;
        let smp = smp_listener.local_addr().map_err(other)?;
        let mut nodes = Vec::new();
        for org in orgs {
            let slug: String = org.org_id.trim_start_matches("0203:").chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
            let made = dev_node::init(&DevNodeOptions {
                organisation_name: org.name.clone(),
                organisation_id: org.org_id.clone(),
                organisation_number: None,
                functional_addresses: vec![FunctionalAddress { id: org.functional_address.clone(), label: org.name.clone() }],
                access_point_id: None,
                out_dir: dir.join(&slug),
                ca_dir: ca_dir.clone(),
            })
            .map_err(other)?;
            nodes.push(start_node(org.clone(), made.config_file, smp).await?);
        }
        let participants = nodes.iter().map(participant).collect::<Result<Vec<_>, _>>()?;
        let smp_key = PrivateKey::from_pem_file(&ca_dir.join("smp.key")).map_err(other)?;
        let smp_cert = Certificate::from_pem_file(&ca_dir.join("smp.pem")).map_err(other)?;
        let (smp_stop, mut smp_stop_rx) = watch::channel(false);
        tokio::spawn(directory::serve(smp_listener, participants, smp_key, smp_cert, async move {
            let _ = smp_stop_rx.changed().await;
        }));
        Ok(DevNetwork { dir: dir.to_owned(), smp, nodes, smp_stop })
    }

    pub fn node(&self, org_id: &str) -> &DevNode {
        self.nodes.iter().find(|n| n.org.org_id == org_id).expect("a node of this network")
    }

    /// Stops every node (gracefully) and the SMP.
    pub async fn stop(self) -> Result<(), NodeError> {
        for node in self.nodes {
            node.stop().await?;
        }
        let _ = self.smp_stop.send(true);
        Ok(())
    }
}
