//! The 100 MB part of `brygga bench network`: peak RSS per node for one
//! 100 MB message (DIGG: the message size is the XHE with its payload, as
//! an XML file; target: peak RSS per node ≤ 1.5 × that).
//!
//! A node's own peak RSS needs a process per node, so here each node is
//! `brygga serve` (this executable) in a process of its own, made like
//! `brygga init` does, with `limits.max_sdk_message_bytes` raised above
//! DIGG's 30 MB as TF-08 requires. The SMP runs in this process. One SDK
//! message of 83 MB (a PDF-typed attachment, base64 inside), sealed into an
//! XHE of about 110 MB, goes through the sender's local API; when it is
//! ACCEPTED (the business receipt is back) it is read from the receiver's
//! inbox. Then `VmHWM` of both processes is read from Linux's /proc.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::bench_network::{message, RECIPIENT, RECIPIENT_ADDRESS, SENDER, SENDER_ADDRESS};
use super::Failure;
use crate::config::NodeConfig;
use crate::node::devnet::{init_org, participant_for, spawn_smp, DevOrg};

/// The SDK message: 83 MB seal into an XHE of about 110 MB (≥ 100 MiB).
pub(super) const LARGE_MESSAGE_BYTES: usize = 83_000_000;
/// `limits.max_sdk_message_bytes` for this run (96 MiB), and the AS4 cap
/// that must then hold the largest XHE of that (150 MiB).
const MAX_SDK_MESSAGE_BYTES: usize = 96 * 1024 * 1024;
const MAX_AS4_MESSAGE_BYTES: usize = 150 * 1024 * 1024;
const START_DEADLINE: Duration = Duration::from_secs(30);
const DELIVERY_DEADLINE: Duration = Duration::from_secs(600);
const POLL: Duration = Duration::from_millis(20);

fn fail(e: impl std::fmt::Display) -> Failure {
    Failure::usage(format!("bench network (100 MB): {e}"))
}

/// One node's memory.
pub(super) struct NodeMemory {
    pub role: &'static str,
    /// `VmHWM` once the node answered its health check.
    pub started: u64,
    /// `VmHWM` after the message was delivered and read back.
    pub peak: u64,
}

/// What the 100 MB run measured.
pub(super) struct LargeResult {
    pub message_bytes: u64,
    /// The sealed XHE as the sender stores it.
    pub xhe_bytes: u64,
    /// `POST /local/v1/messages` until 202: spooled, read, sealed, stored.
    pub submit: Duration,
    /// 202 until ACCEPTED: AS4 there, verified, decrypted, stored, receipt back.
    pub delivery: Duration,
    /// `GET /local/v1/inbox/...` of the whole message at the receiver.
    pub read_back: Duration,
    pub nodes: [NodeMemory; 2],
}

/// Node processes, killed when dropped (the data is thrown away anyway).
struct Nodes(Vec<(&'static str, Child, PathBuf)>);

impl Nodes {
    fn check_alive(&mut self) -> Result<(), Failure> {
        for (role, child, log) in &mut self.0 {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(fail(format!("the {role} node exited with {status}; its log:\n{}", tail(log, 20))));
            }
        }
        Ok(())
    }
}

impl Drop for Nodes {
    fn drop(&mut self) {
        for (_, child, _) in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// `VmHWM` (peak resident set) of process `pid` ("self" for this one), from
/// Linux's /proc.
pub(super) fn peak_rss_of(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Free loopback ports, all bound at once, then released.
fn free_ports(n: usize) -> Result<Vec<u16>, Failure> {
    let listeners = (0..n).map(|_| std::net::TcpListener::bind("127.0.0.1:0")).collect::<Result<Vec<_>, _>>().map_err(fail)?;
    listeners.iter().map(|l| l.local_addr().map(|a| a.port()).map_err(fail)).collect()
}

/// Points a node made by `init_org` at its ports and the SMP, and raises
/// its size limits.
fn configure(config_file: &Path, as4: SocketAddr, api: SocketAddr, smp: SocketAddr) -> Result<NodeConfig, Failure> {
    let text = std::fs::read_to_string(config_file).map_err(fail)?;
    let mut table: toml::Table = toml::from_str(&text).map_err(fail)?;
    let section = |table: &mut toml::Table, name: &str| -> Result<toml::Table, Failure> {
        match table.remove(name) {
            Some(toml::Value::Table(t)) => Ok(t),
            None => Ok(toml::Table::new()),
            Some(_) => Err(fail(format!("{}: [{name}] is not a table", config_file.display()))),
        }
    };
    let mut listen = section(&mut table, "listen")?;
    listen.insert("as4".into(), as4.to_string().into());
    listen.insert("api".into(), api.to_string().into());
    table.insert("listen".into(), listen.into());
    let mut smp_section = section(&mut table, "smp")?;
    smp_section.insert("base_url".into(), format!("http://{smp}/").into());
    table.insert("smp".into(), smp_section.into());
    let mut limits = section(&mut table, "limits")?;
    limits.insert("max_sdk_message_bytes".into(), (MAX_SDK_MESSAGE_BYTES as i64).into());
    limits.insert("max_as4_message_bytes".into(), (MAX_AS4_MESSAGE_BYTES as i64).into());
    table.insert("limits".into(), limits.into());
    std::fs::write(config_file, toml::to_string(&table).map_err(fail)?).map_err(fail)?;
    NodeConfig::load(config_file).map_err(fail)
}

/// The largest file under `dir`, recursively.
fn largest_file(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => largest_file(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .max()
        .unwrap_or(0)
}

/// Runs the 100 MB measurement in `dir`.
pub(super) async fn measure(dir: &Path) -> Result<LargeResult, Failure> {
    let exe = std::env::current_exe().map_err(|e| fail(format!("cannot find this executable: {e}")))?;
    let ca_dir = dir.join("ca");
    let orgs = [
        ("sender", DevOrg::new("Region Stockholm BUP", SENDER, SENDER_ADDRESS)),
        ("receiver", DevOrg::new("Stockholms stad socialtjänst", RECIPIENT, RECIPIENT_ADDRESS)),
    ];
    let smp_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(fail)?;
    let smp = smp_listener.local_addr().map_err(fail)?;
    let ports = free_ports(4)?;
    let loopback = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
    let mut configured = Vec::new();
    for (i, (role, org)) in orgs.iter().enumerate() {
        let init = init_org(dir, &ca_dir, org).map_err(fail)?;
        let (as4, api) = (loopback(ports[2 * i]), loopback(ports[2 * i + 1]));
        let config = configure(&init.config_file, as4, api, smp)?;
        configured.push((*role, org, init.config_file, config, api));
    }
    let participants = configured
        .iter()
        .map(|(_, org, _, config, _)| participant_for(&org.org_id, config, config.listen.as4))
        .collect::<Result<Vec<_>, _>>()
        .map_err(fail)?;
    let (smp_stop, _smp_task) = spawn_smp(smp_listener, &ca_dir, participants).map_err(fail)?;

    let result = run_nodes(&exe, dir, &configured).await;
    let _ = smp_stop.send(true);
    result
}

type Configured<'a> = (&'static str, &'a DevOrg, PathBuf, NodeConfig, SocketAddr);

async fn run_nodes(exe: &Path, dir: &Path, configured: &[Configured<'_>]) -> Result<LargeResult, Failure> {
    let http = reqwest::Client::builder().no_proxy().build().map_err(fail)?;
    let mut nodes = Nodes(Vec::new());
    for (role, _, config_file, _, _) in configured {
        let log_path = dir.join(format!("{role}.log"));
        let log = std::fs::File::create(&log_path).map_err(fail)?;
        let child = Command::new(exe)
            .arg("serve")
            .arg("--config")
            .arg(config_file)
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(fail)?)
            .stderr(log)
            .spawn()
            .map_err(|e| fail(format!("cannot start `{} serve`: {e}", exe.display())))?;
        nodes.0.push((*role, child, log_path));
    }
    let started = Instant::now();
    for (_, _, _, _, api) in configured {
        loop {
            nodes.check_alive()?;
            let ok = http.get(format!("http://{api}/healthz")).send().await.is_ok_and(|r| r.status().is_success());
            if ok {
                break;
            }
            if started.elapsed() > START_DEADLINE {
                return Err(fail(format!("the node on {api} did not start within {START_DEADLINE:?}")));
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
    let pids: Vec<String> = nodes.0.iter().map(|(_, c, _)| c.id().to_string()).collect();
    let at_start: Vec<u64> = pids.iter().map(|p| peak_rss_of(p).unwrap_or(0)).collect();

    let (sender_api, receiver_api) = (configured[0].4, configured[1].4);
    let template = message(LARGE_MESSAGE_BYTES)?;
    let id = template.message_id().to_owned();
    let xml = template.to_xml();
    drop(template);
    let message_bytes = xml.len() as u64;
    let digest = ring::digest::digest(&ring::digest::SHA256, &xml);

    let clock = Instant::now();
    let response =
        http.post(format!("http://{sender_api}/local/v1/messages")).body(xml).send().await.map_err(fail)?;
    if response.status() != reqwest::StatusCode::ACCEPTED {
        let status = response.status();
        return Err(fail(format!("submission refused ({status}): {}", response.text().await.unwrap_or_default())));
    }
    let submit = clock.elapsed();

    let clock = Instant::now();
    loop {
        nodes.check_alive()?;
        let response = http.get(format!("http://{sender_api}/local/v1/messages/{id}")).send().await.map_err(fail)?;
        let entry: serde_json::Value = serde_json::from_slice(&response.bytes().await.map_err(fail)?).map_err(fail)?;
        match entry["state"].as_str().unwrap_or_default() {
            "ACCEPTED" => break,
            s @ ("REJECTED" | "MESSAGE_EXCHANGE_ERROR") => return Err(fail(format!("the message ended {s}: {entry}"))),
            s if clock.elapsed() > DELIVERY_DEADLINE => {
                return Err(fail(format!("the message is still {s} after {DELIVERY_DEADLINE:?}: {entry}")))
            }
            _ => tokio::time::sleep(POLL).await,
        }
    }
    let delivery = clock.elapsed();

    let clock = Instant::now();
    let response =
        http.get(format!("http://{receiver_api}/local/v1/inbox/{RECIPIENT_ADDRESS}/{id}")).send().await.map_err(fail)?;
    if !response.status().is_success() {
        return Err(fail(format!("reading the delivered message: HTTP {}", response.status())));
    }
    let received = response.bytes().await.map_err(fail)?;
    let read_back = clock.elapsed();
    if ring::digest::digest(&ring::digest::SHA256, &received).as_ref() != digest.as_ref() {
        return Err(fail("the receiver's inbox holds other bytes than were submitted"));
    }
    drop(received);

    let peaks: Vec<u64> = pids.iter().map(|p| peak_rss_of(p).unwrap_or(0)).collect();
    let xhe_bytes = largest_file(&configured[0].3.data_dir.join("store").join("payloads"));
    let node = |i: usize| NodeMemory { role: configured[i].0, started: at_start[i], peak: peaks[i] };
    Ok(LargeResult { message_bytes, xhe_bytes, submit, delivery, read_back, nodes: [node(0), node(1)] })
}
