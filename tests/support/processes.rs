//! Running Brygga as real processes in integration tests: `brygga init`
//! node directories, `brygga smp serve` and `brygga serve` children that die
//! with the test, loopback ports chosen up front, and a small blocking HTTP
//! client for the local API.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use brygga::directory::DocumentTypeId;

pub const BRYGGA: &str = env!("CARGO_BIN_EXE_brygga");

/// How long a process may take to listen.
pub const START_DEADLINE: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------

/// Every child process of the test; all are killed when it is dropped, so a
/// failing assertion leaves nothing running.
#[derive(Default)]
pub struct Children {
    running: Mutex<HashMap<&'static str, Child>>,
}

impl Children {
    pub fn spawn(&self, name: &'static str, mut command: Command, log: &Path) -> u32 {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(log).expect("log file");
        let child = command
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let pid = child.id();
        let old = self.running.lock().unwrap().insert(name, child);
        assert!(old.is_none(), "{name} started twice");
        pid
    }

    /// SIGKILL (what `Child::kill` sends), then reap.
    pub fn kill(&self, name: &'static str) {
        let child = self.running.lock().unwrap().remove(name);
        if let Some(mut child) = child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM and a wait for a clean stop; SIGKILL after `grace`.
    pub fn stop(&self, name: &'static str, grace: Duration) -> Option<std::process::ExitStatus> {
        let mut child = self.running.lock().unwrap().remove(name)?;
        // Under BRYGGA_TEST_WRAPPER the node is the wrapper's child: it gets
        // the signal, and the wrapper (a profiler) ends after it.
        if let Some(pid) = brygga_pid(child.id()) {
            let _ = Command::new("kill").arg("-TERM").arg(pid.to_string()).status();
        }
        let start = Instant::now();
        while start.elapsed() < grace {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    /// Fails if a child has exited on its own (a crash we did not cause).
    pub fn check_alive(&self, name: &'static str, log: &Path) {
        let mut running = self.running.lock().unwrap();
        if let Some(child) = running.get_mut(name) {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("{name} exited by itself with {status}; its log:\n{}", tail(log, 60));
            }
        }
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        let running = std::mem::take(&mut *self.running.lock().unwrap_or_else(|e| e.into_inner()));
        for (_, mut child) in running {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}


fn wrapped() -> bool {
    std::env::var("BRYGGA_TEST_WRAPPER").is_ok_and(|w| !w.trim().is_empty())
}

/// The `brygga` process of a child: the child itself, or under
/// `BRYGGA_TEST_WRAPPER` the wrapper's `brygga` child (if it runs yet).
pub fn brygga_pid(child: u32) -> Option<u32> {
    if !wrapped() {
        return Some(child);
    }
    let children = std::fs::read_to_string(format!("/proc/{child}/task/{child}/children")).unwrap_or_default();
    let is_brygga = |p: &&str| std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == "brygga");
    children.split_whitespace().find(is_brygga).and_then(|p| p.parse().ok())
}

/// The last `lines` lines of a log, for failure messages.
pub fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Distinct free loopback ports: all bound at once, then released.
pub fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n).map(|_| TcpListener::bind("127.0.0.1:0").expect("bind")).collect();
    listeners.iter().map(|l| l.local_addr().unwrap().port()).collect()
}

pub fn run_ok(args: &[&str]) -> String {
    let out = Command::new(BRYGGA).args(args).output().expect("run brygga");
    assert!(
        out.status.success(),
        "brygga {args:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

// ---------------------------------------------------------------------------
// A small blocking HTTP/1.1 client (one request per connection)
// ---------------------------------------------------------------------------

#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub fn http(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> std::io::Result<HttpResponse> {
    http_with_timeout(addr, method, path, body, Duration::from_secs(30))
}

/// [`http`] with `timeout` for each read and write instead of 30 s.
pub fn http_with_timeout(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &[u8],
    timeout: Duration,
) -> std::io::Result<HttpResponse> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    parse_response(&raw).ok_or_else(|| std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "incomplete HTTP response"))
}

pub fn parse_response(raw: &[u8]) -> Option<HttpResponse> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let mut length = None;
    let mut chunked = false;
    for line in lines {
        let (name, value) = line.split_once(':')?;
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse::<usize>().ok(),
            "transfer-encoding" => chunked = value.to_ascii_lowercase().contains("chunked"),
            _ => {}
        }
    }
    let rest = &raw[end + 4..];
    let body = if chunked {
        let mut body = Vec::new();
        let mut rest = rest;
        loop {
            let line_end = rest.windows(2).position(|w| w == b"\r\n")?;
            let size = usize::from_str_radix(std::str::from_utf8(&rest[..line_end]).ok()?.split(';').next()?.trim(), 16).ok()?;
            rest = &rest[line_end + 2..];
            if size == 0 {
                break;
            }
            body.extend_from_slice(rest.get(..size)?);
            rest = rest.get(size + 2..)?;
        }
        body
    } else {
        match length {
            Some(n) => rest.get(..n)?.to_vec(),
            None => rest.to_vec(),
        }
    };
    Some(HttpResponse { status, body })
}

pub fn get_json(addr: SocketAddr, path: &str) -> Option<(u16, serde_json::Value)> {
    let r = http(addr, "GET", path, b"").ok()?;
    let value = serde_json::from_slice(&r.body).unwrap_or(serde_json::Value::Null);
    Some((r.status, value))
}

// ---------------------------------------------------------------------------
// The network on disk
// ---------------------------------------------------------------------------

pub struct NodeDir {
    pub name: &'static str,
    pub dir: PathBuf,
    pub config: PathBuf,
    pub api: SocketAddr,
    pub as4: SocketAddr,
    pub log: PathBuf,
}

impl NodeDir {
    pub fn audit_log(&self) -> PathBuf {
        self.dir.join("data").join("audit.log")
    }

    /// Appends TOML (sections `brygga init` does not write) to node.toml.
    pub fn append_config(&self, toml: &str) {
        let mut text = std::fs::read_to_string(&self.config).unwrap();
        text.push('\n');
        text.push_str(toml);
        std::fs::write(&self.config, text).unwrap();
    }

    /// `brygga serve` for this node. `BRYGGA_TEST_WRAPPER` (e.g.
    /// `heaptrack`) runs it under a profiler; the pid is then the wrapper's.
    pub fn command(&self) -> Command {
        let mut c = match std::env::var("BRYGGA_TEST_WRAPPER") {
            Ok(wrapper) if !wrapper.trim().is_empty() => {
                let mut words = wrapper.split_whitespace();
                let mut c = Command::new(words.next().unwrap());
                c.args(words).arg(BRYGGA);
                c
            }
            _ => Command::new(BRYGGA),
        };
        c.arg("serve").arg("--config").arg(&self.config);
        c.env("RUST_LOG", std::env::var("BRYGGA_TEST_LOG").unwrap_or_else(|_| "info".into()));
        c
    }
}

/// `brygga init` for one organisation, then its listeners, SMP and retry
/// policy set for this test.
pub fn init_node(name: &'static str, root: &Path, org: &str, address: &str, as4: u16, api: u16, smp: u16) -> NodeDir {
    let dir = root.join(name);
    let ca = root.join("ca");
    run_ok(&[
        "init",
        "--org",
        name,
        "--org-id",
        org,
        "--out",
        dir.to_str().unwrap(),
        "--ca-dir",
        ca.to_str().unwrap(),
        "--functional-address",
        address,
    ]);
    let config = dir.join("node.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let mut out = String::new();
    let mut replaced = 0;
    for line in text.lines() {
        let line = if line.starts_with("as4 = ") {
            replaced += 1;
            format!("as4 = \"127.0.0.1:{as4}\"")
        } else if line.starts_with("api = ") {
            replaced += 1;
            format!("api = \"127.0.0.1:{api}\"")
        } else if line.starts_with("base_url = ") {
            replaced += 1;
            format!("base_url = \"http://127.0.0.1:{smp}/\"")
        } else {
            line.to_owned()
        };
        out.push_str(&line);
        out.push('\n');
    }
    assert_eq!(replaced, 3, "node.toml from brygga init changed shape:\n{text}");
    // Short retries, so a restarted peer is tried again within seconds;
    // enough attempts that a receipt outlives the sender's restarts.
    out.push_str(
        "\n[retry]\nmax_attempts = 60\ninitial_backoff_seconds = 1\nmax_backoff_seconds = 2\nmultiplier = 2.0\njitter = 0.2\nexpiry_hours = 1\n",
    );
    std::fs::write(&config, out).unwrap();
    NodeDir {
        name,
        config,
        api: SocketAddr::from(([127, 0, 0, 1], api)),
        as4: SocketAddr::from(([127, 0, 0, 1], as4)),
        log: root.join(format!("{name}.log")),
        dir,
    }
}

pub fn participants_file(root: &Path, nodes: &[(&str, &NodeDir)]) -> PathBuf {
    let mut text = String::new();
    for (org, node) in nodes {
        let keys = format!("{}/keys", node.name);
        text.push_str(&format!(
            "[[participant]]\nid = \"{org}\"\ndocument_types = [\"{}\", \"{}\"]\nendpoint_url = \"https://127.0.0.1:{}/as4\"\naccess_point_certificate = \"{keys}/ap.pem\"\nsigning_certificate = \"{keys}/org-signing.pem\"\nencryption_certificate = \"{keys}/org-encryption.pem\"\n\n",
            DocumentTypeId::sdk_message_v3().value(),
            DocumentTypeId::sdk_receipt().value(),
            node.as4.port(),
        ));
    }
    let path = root.join("participants.toml");
    std::fs::write(&path, text).unwrap();
    path
}

pub fn wait_for_port(addr: SocketAddr, what: &str, log: &Path) {
    let start = Instant::now();
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(start.elapsed() < START_DEADLINE, "{what} does not listen on {addr}; its log:\n{}", tail(log, 40));
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Starts `brygga serve` for `node` and waits until its API answers.
/// Returns the node's process id (under `BRYGGA_TEST_WRAPPER`, not the
/// wrapper's).
pub fn start_node(children: &Children, node: &NodeDir) -> u32 {
    let pid = children.spawn(node.name, node.command(), &node.log);
    let start = Instant::now();
    loop {
        if let Ok(r) = http(node.api, "GET", "/healthz", b"") {
            if r.status == 200 {
                break;
            }
        }
        children.check_alive(node.name, &node.log);
        assert!(start.elapsed() < START_DEADLINE, "{} did not start; its log:\n{}", node.name, tail(&node.log, 40));
        std::thread::sleep(Duration::from_millis(25));
    }
    wait_for_port(node.as4, node.name, &node.log);
    brygga_pid(pid).expect("the wrapper runs brygga")
}

/// As [`start_node`] for a node whose API speaks TLS (the plain-HTTP
/// health probe cannot reach it): waits until both ports listen.
pub fn start_node_tls_api(children: &Children, node: &NodeDir) -> u32 {
    let pid = children.spawn(node.name, node.command(), &node.log);
    wait_for_port(node.api, node.name, &node.log);
    wait_for_port(node.as4, node.name, &node.log);
    brygga_pid(pid).expect("the wrapper runs brygga")
}

/// Starts `brygga smp serve` on `port` for the participants in
/// `participants`, signing with the CA directory's SMP key, and waits
/// until it listens.
pub fn start_smp(children: &Children, root: &Path, participants: &Path, port: u16) -> SocketAddr {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let log = root.join("smp.log");
    let mut smp = Command::new(BRYGGA);
    smp.arg("smp")
        .arg("serve")
        .arg("--participants")
        .arg(participants)
        .arg("--listen")
        .arg(addr.to_string())
        .arg("--key")
        .arg(root.join("ca/smp.key"))
        .arg("--cert")
        .arg(root.join("ca/smp.pem"));
    children.spawn("smp", smp, &log);
    wait_for_port(addr, "smp", &log);
    addr
}

/// A process's peak resident set size (`VmHWM` in `/proc/<pid>/status`), in bytes.
pub fn peak_rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/<pid>/status");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/<pid>/status");
    kib * 1024
}

