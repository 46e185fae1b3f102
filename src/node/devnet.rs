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
use crate::api::scope::Scope;
use crate::api::secret::SecretHash;
use crate::config::api::ApiClient;
use crate::config::{FunctionalAddress, NodeConfig};
use crate::directory::server::ServeError;
use crate::directory::{self, CertPub, DocumentTypeId, Endpoint, ParticipantId, Participant, ProcessId};
use crate::pki::{Certificate, PrivateKey};

/// One organisation to run a node for.
#[derive(Debug, Clone)]
pub struct DevOrg {
    pub name: String,
    pub org_id: String,
    pub functional_address: String,
    /// Made up from the org id when not given.
    pub organisation_number: Option<String>,
}

impl DevOrg {
    pub fn new(name: &str, org_id: &str, functional_address: &str) -> Self {
        Self {
            name: name.to_owned(),
            org_id: org_id.to_owned(),
            functional_address: functional_address.to_owned(),
            organisation_number: None,
        }
    }

    /// The organisation's real number (10 digits) instead of a made-up one.
    pub fn with_organisation_number(mut self, number: &str) -> Self {
        self.organisation_number = Some(number.to_owned());
        self
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

/// A node's files, made by [`init_org`] and not running yet.
#[derive(Debug, Clone)]
pub struct DevInit {
    pub org: DevOrg,
    pub config_file: PathBuf,
}

/// A node stopped with [`DevNetwork::stop_node`]: its files stay, and SMP
/// keeps publishing it where it listened.
struct StoppedNode {
    org: DevOrg,
    config_file: PathBuf,
    as4: SocketAddr,
    published: Participant,
}

/// The SMP and the nodes.
pub struct DevNetwork {
    pub dir: PathBuf,
    pub smp: SocketAddr,
    pub nodes: Vec<DevNode>,
    smp_stop: watch::Sender<bool>,
    smp_task: JoinHandle<Result<(), ServeError>>,
    stopped: Vec<StoppedNode>,
}

fn other(e: impl std::fmt::Display) -> NodeError {
    NodeError::Other(e.to_string())
}

/// The OAuth2 client id of the case system every development node knows:
/// all scopes, every functional address of the node. Its secret is in
/// [`DEV_CLIENT_SECRET_FILE`] beside the node's configuration file.
pub const DEV_CLIENT_ID: &str = "case-system";
/// See [`DEV_CLIENT_ID`].
pub const DEV_CLIENT_SECRET_FILE: &str = "case-system.secret";

/// Loads a node's configuration with loopback listeners on free ports and
/// the network's SMP, and the development case-system client when its
/// secret file is there (and the configuration has no client of that id).
pub fn load_config(config_file: &Path, smp: SocketAddr) -> Result<NodeConfig, NodeError> {
    let mut config = NodeConfig::load(config_file).map_err(other)?;
    config.listen.as4 = SocketAddr::from(([127, 0, 0, 1], 0));
    config.listen.api = SocketAddr::from(([127, 0, 0, 1], 0));
    config.smp.base_url = format!("http://{smp}/");
    let secret_file = config_file.with_file_name(DEV_CLIENT_SECRET_FILE);
    if secret_file.exists() && !config.api.clients.iter().any(|c| c.id == DEV_CLIENT_ID) {
        let secret = std::fs::read_to_string(&secret_file).map_err(other)?;
        let secret_hash = SecretHash::new(secret.trim(), crate::api::secret::MIN_ITERATIONS).map_err(other)?;
        let functional_addresses = config.organisation.functional_addresses.iter().map(|a| a.id.clone()).collect();
        config.api.clients.push(ApiClient {
            id: DEV_CLIENT_ID.to_owned(),
            secret_hash,
            scopes: Scope::ALL.to_vec(),
            functional_addresses,
            webhook: None,
        });
    }
    Ok(config)
}

/// The development case-system client's secret for the node configured in
/// `config_file`.
pub fn dev_client_secret(config_file: &Path) -> Result<String, NodeError> {
    let text = std::fs::read_to_string(config_file.with_file_name(DEV_CLIENT_SECRET_FILE)).map_err(other)?;
    Ok(text.trim().to_owned())
}

/// Starts the node configured in `config_file`; it stops when `stop` flips.
pub async fn start_node(org: DevOrg, config_file: PathBuf, smp: SocketAddr) -> Result<DevNode, NodeError> {
    start_node_at(org, config_file, smp, None).await
}

/// As [`start_node`], with the AS4 listener on `as4` when given (a restart
/// where SMP still publishes the old address), else on a free port.
pub async fn start_node_at(
    org: DevOrg,
    config_file: PathBuf,
    smp: SocketAddr,
    as4: Option<SocketAddr>,
) -> Result<DevNode, NodeError> {
    let mut config = load_config(&config_file, smp)?;
    if let Some(as4) = as4 {
        config.listen.as4 = as4;
    }
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
    participant_for(&node.org.org_id, &node.state.config, node.bound.as4)
}

/// What SMP publishes for organisation `org_id` whose node runs with
/// `config` and listens for AS4 on `as4` (loopback).
pub fn participant_for(org_id: &str, config: &NodeConfig, as4: SocketAddr) -> Result<Participant, NodeError> {
    let keys = &config.keys;
    Ok(Participant {
        id: ParticipantId::new(org_id).map_err(other)?,
        document_types: vec![DocumentTypeId::sdk_message_v3(), DocumentTypeId::sdk_receipt()],
        process: ProcessId::sdk(),
        endpoint: Endpoint::as4(&format!("https://127.0.0.1:{}/as4", as4.port()), keys.access_point.certificate().clone()),
        certpub: CertPub {
            signing: vec![keys.org_signing.certificate().clone()],
            encryption: vec![keys.org_encryption.certificate().clone()],
        },
    })
}

/// Makes keys and configuration for `org` under `dir` (`dir/<domain>`),
/// with certificates from the development CAs in `ca_dir` (created there if
/// missing). Another `ca_dir` is another PKI: another environment.
pub fn init_org(dir: &Path, ca_dir: &Path, org: &DevOrg) -> Result<DevInit, NodeError> {
    let slug: String = org.org_id.trim_start_matches("0203:").chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    let made = dev_node::init(&DevNodeOptions {
        organisation_name: org.name.clone(),
        organisation_id: org.org_id.clone(),
        organisation_number: org.organisation_number.clone(),
        functional_addresses: vec![FunctionalAddress { id: org.functional_address.clone(), label: org.name.clone() }],
        access_point_id: None,
        out_dir: dir.join(&slug),
        ca_dir: ca_dir.to_owned(),
    })
    .map_err(other)?;
    // The case-system client's secret, readable by the owner only.
    let secret = crate::api::secret::generate_secret().map_err(other)?;
    dev_node::write_new_secret(&made.config_file.with_file_name(DEV_CLIENT_SECRET_FILE), secret.as_bytes()).map_err(other)?;
    Ok(DevInit { org: org.clone(), config_file: made.config_file })
}

/// A running SMP: what stops it, and its task.
pub type SmpTask = (watch::Sender<bool>, JoinHandle<Result<(), ServeError>>);

/// Serves `participants` on `listener`, signed with the SMP key in `ca_dir`.
pub fn spawn_smp(listener: TcpListener, ca_dir: &Path, participants: Vec<Participant>) -> Result<SmpTask, NodeError> {
    let smp_key = PrivateKey::from_pem_file(&ca_dir.join("smp.key")).map_err(other)?;
    let smp_cert = Certificate::from_pem_file(&ca_dir.join("smp.pem")).map_err(other)?;
    let (smp_stop, mut smp_stop_rx) = watch::channel(false);
    let task = tokio::spawn(directory::serve(listener, participants, smp_key, smp_cert, async move {
        let _ = smp_stop_rx.changed().await;
    }));
    Ok((smp_stop, task))
}

impl DevNetwork {
    /// Makes keys and configuration for `orgs` under `dir`, starts an SMP
    /// and a node per organisation.
    pub async fn start(dir: &Path, orgs: &[DevOrg]) -> Result<DevNetwork, NodeError> {
        Self::start_with(dir, orgs, |_, _| {}).await
    }

    /// As [`DevNetwork::start`], with `prepare` called once every node's
    /// files exist and before any node starts, with the CA directory: tests
    /// change configuration files, keys or trust there (a CRL, a retry
    /// policy).
    pub async fn start_with(
        dir: &Path,
        orgs: &[DevOrg],
        prepare: impl FnOnce(&Path, &[DevInit]),
    ) -> Result<DevNetwork, NodeError> {
        let ca_dir = dir.join("ca");
        let smp_listener = TcpListener::bind("127.0.0.1:0").await.map_err(other)?;
        let smp = smp_listener.local_addr().map_err(other)?;
        let inits = orgs.iter().map(|org| init_org(dir, &ca_dir, org)).collect::<Result<Vec<_>, _>>()?;
        prepare(&ca_dir, &inits);
        let mut nodes = Vec::new();
        for init in inits {
            nodes.push(start_node(init.org, init.config_file, smp).await?);
        }
        let participants = nodes.iter().map(participant).collect::<Result<Vec<_>, _>>()?;
        let (smp_stop, smp_task) = spawn_smp(smp_listener, &ca_dir, participants)?;
        Ok(DevNetwork { dir: dir.to_owned(), smp, nodes, smp_stop, smp_task, stopped: Vec::new() })
    }

    /// The shared CA directory of this network.
    pub fn ca_dir(&self) -> PathBuf {
        self.dir.join("ca")
    }

    /// Starts a node from `config_file` (made by [`init_org`], possibly
    /// against another CA directory) and publishes it in this network's SMP.
    pub async fn add_node(&mut self, org: DevOrg, config_file: PathBuf) -> Result<&DevNode, NodeError> {
        let node = start_node(org, config_file, self.smp).await?;
        self.nodes.push(node);
        self.republish().await?;
        Ok(self.nodes.last().expect("just pushed"))
    }

    /// Stops one node gracefully; its files stay and SMP keeps publishing
    /// it, so senders find it unreachable. [`DevNetwork::restart_node`]
    /// brings it back.
    pub async fn stop_node(&mut self, org_id: &str) -> Result<(), NodeError> {
        let index = self
            .nodes
            .iter()
            .position(|n| n.org.org_id == org_id)
            .ok_or_else(|| other(format!("no running node {org_id}")))?;
        let published = participant(&self.nodes[index])?;
        let node = self.nodes.remove(index);
        self.stopped.push(StoppedNode {
            org: node.org.clone(),
            config_file: node.config_file.clone(),
            as4: node.bound.as4,
            published,
        });
        node.stop().await
    }

    /// Starts a node stopped with [`DevNetwork::stop_node`] again from the
    /// same files, listening for AS4 on the same address.
    pub async fn restart_node(&mut self, org_id: &str) -> Result<&DevNode, NodeError> {
        let index = self
            .stopped
            .iter()
            .position(|n| n.org.org_id == org_id)
            .ok_or_else(|| other(format!("no stopped node {org_id}")))?;
        let stopped = self.stopped.remove(index);
        let (org, config_file) = (stopped.org.clone(), stopped.config_file.clone());
        let node = match start_node_at(org, config_file, self.smp, Some(stopped.as4)).await {
            Ok(node) => node,
            Err(e) => {
                self.stopped.push(stopped);
                return Err(e);
            }
        };
        self.nodes.push(node);
        Ok(self.nodes.last().expect("just pushed"))
    }

    /// Restarts the SMP on its address with what it publishes now: the
    /// running nodes and the stopped ones.
    async fn republish(&mut self) -> Result<(), NodeError> {
        let mut participants = self.nodes.iter().map(participant).collect::<Result<Vec<_>, _>>()?;
        participants.extend(self.stopped.iter().map(|s| s.published.clone()));
        let _ = self.smp_stop.send(true);
        let old = std::mem::replace(&mut self.smp_task, tokio::spawn(async { Ok(()) }));
        match tokio::time::timeout(std::time::Duration::from_secs(10), old).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => return Err(other(e)),
            Ok(Err(e)) => return Err(other(e)),
            Err(_) => return Err(other("the SMP did not stop within 10 s")),
        }
        let listener = TcpListener::bind(self.smp).await.map_err(other)?;
        let (smp_stop, smp_task) = spawn_smp(listener, &self.ca_dir(), participants)?;
        self.smp_stop = smp_stop;
        self.smp_task = smp_task;
        Ok(())
    }

    /// The development case-system client's id and secret at `org_id`'s node.
    pub fn api_client(&self, org_id: &str) -> Result<(&'static str, String), NodeError> {
        Ok((DEV_CLIENT_ID, dev_client_secret(&self.node(org_id).config_file)?))
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
