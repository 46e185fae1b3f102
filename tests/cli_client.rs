//! The operator client (`brygga send`, `brygga inbox`, `brygga status`) as
//! a process against two live dev nodes with API TLS: a message with an
//! attachment sent and waited for until ACCEPTED, listed and fetched on
//! the receiving node with the attachment saved byte-identical, its status
//! shown; a wrong secret, a readable secret file, a bad request and a
//! `--wait` on a recipient that is down give their exit codes and readable
//! messages.

mod support;
#[path = "support/api_client.rs"]
mod api_client;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use api_client::{api_section, append_config, Client, ALL_SCOPES};
use brygga::node::devnet::{DevNetwork, DevOrg};
use serde_json::Value;

const BUP: &str = "0203:bup.regionstockholm.se";
const SOC: &str = "0203:socialtjanst.stockholm.se";
const BUP_FA: &str = "bup.envagin";
const SOC_FA: &str = "soc.mottagning";
const SECRET: &str = "correct horse battery staple";

const EXIT_USAGE: i32 = 2;
const EXIT_REFUSED: i32 = 4;
const EXIT_API: i32 = 5;
const EXIT_WAIT_TIMEOUT: i32 = 6;

/// How the client reaches one node: URL, CA file, client id.
struct Node {
    url: String,
    ca: PathBuf,
    client: &'static str,
}

async fn network(dir: &Path) -> DevNetwork {
    let orgs = vec![DevOrg::new("Region Stockholm BUP", BUP, BUP_FA), DevOrg::new("Stockholms stad socialtjänst", SOC, SOC_FA)];
    DevNetwork::start_with(dir, &orgs, |_, inits| {
        for init in inits {
            let (id, fa) = if init.org.org_id == BUP { ("case-system", BUP_FA) } else { ("soc-system", SOC_FA) };
            let clients = [Client { id, secret: SECRET, scopes: ALL_SCOPES, functional_addresses: &[fa] }];
            append_config(&init.config_file, &api_section(&clients, ""));
        }
    })
    .await
    .expect("network starts")
}

fn node(net: &DevNetwork, org: &str) -> Node {
    let n = net.node(org);
    let config_dir = n.config_file.parent().unwrap().to_owned();
    Node {
        url: format!("https://localhost:{}", n.bound.api.port()),
        ca: config_dir.join("trust/tls-ca.pem"),
        client: if org == BUP { "case-system" } else { "soc-system" },
    }
}

fn secret_file(dir: &Path, name: &str, secret: &str, mode: u32) -> PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let path = dir.join(name);
    std::fs::write(&path, format!("{secret}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

/// `brygga <command> <connection options> <args>`, off the async threads.
async fn brygga(command: &str, node: &Node, secret: &Path, args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_brygga"));
    c.arg(command)
        .arg("--api")
        .arg(&node.url)
        .arg("--ca-file")
        .arg(&node.ca)
        .arg("--client-id")
        .arg(node.client)
        .arg("--client-secret-file")
        .arg(secret)
        .args(args);
    run(c).await
}

async fn run(mut c: Command) -> Output {
    for var in ["BRYGGA_API_URL", "BRYGGA_CLIENT_ID", "BRYGGA_CLIENT_SECRET_FILE", "BRYGGA_CA_FILE"] {
        c.env_remove(var);
    }
    tokio::task::spawn_blocking(move || c.output().expect("run brygga")).await.unwrap()
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn show(o: &Output) -> String {
    format!("exit {:?}\nstdout:\n{}\nstderr:\n{}", o.status.code(), out(o), err(o))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_wait_inbox_get_and_status_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let net = network(dir.path()).await;
    let (bup, soc) = (node(&net, BUP), node(&net, SOC));
    let secret = secret_file(dir.path(), "client.secret", SECRET, 0o600);

    // An attachment with every byte value.
    let attachment: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    let pdf = dir.path().join("underlag.pdf");
    std::fs::write(&pdf, &attachment).unwrap();

    let o = brygga(
        "send",
        &bup,
        &secret,
        &[
            "--to",
            SOC,
            "--to-address",
            SOC_FA,
            "--label",
            "Remiss från CLI",
            "--text",
            "# Hej\n\nSe bifogat underlag.",
            "--file",
            pdf.to_str().unwrap(),
            "--confidential",
            "--idempotency-key",
            "cli-test-1",
            "--wait",
            "--wait-timeout",
            "90",
        ],
    )
    .await;
    assert!(o.status.success(), "{}", show(&o));
    let stdout = out(&o);
    let first = stdout.lines().next().unwrap();
    let (id, status) = first.split_once(' ').unwrap();
    assert_eq!(status, "SCHEDULED", "{stdout}");
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{stdout}");
    assert_eq!(stdout.lines().last().unwrap(), format!("{id} ACCEPTED"), "{stdout}");

    // The status on the sending node.
    let o = brygga("status", &bup, &secret, &[id]).await;
    assert!(o.status.success(), "{}", show(&o));
    assert!(out(&o).starts_with(&format!("{id} ACCEPTED")), "{}", show(&o));
    assert!(out(&o).contains("Message accepted by receiver"), "{}", show(&o));
    let o = brygga("status", &bup, &secret, &[id, "--json"]).await;
    let body: Value = serde_json::from_str(&out(&o)).unwrap();
    assert_eq!(body["data"]["attributes"]["messageStatus"], "ACCEPTED");

    // The connection from the environment works the same.
    let mut c = Command::new(env!("CARGO_BIN_EXE_brygga"));
    c.args(["status", id]);
    let o = {
        for var in ["BRYGGA_API_URL", "BRYGGA_CLIENT_ID", "BRYGGA_CLIENT_SECRET_FILE", "BRYGGA_CA_FILE"] {
            c.env_remove(var);
        }
        c.env("BRYGGA_API_URL", &bup.url)
            .env("BRYGGA_CA_FILE", &bup.ca)
            .env("BRYGGA_CLIENT_ID", bup.client)
            .env("BRYGGA_CLIENT_SECRET_FILE", &secret);
        tokio::task::spawn_blocking(move || c.output().unwrap()).await.unwrap()
    };
    assert!(out(&o).starts_with(&format!("{id} ACCEPTED")), "{}", show(&o));

    // The receiving node lists it (NEW once its receipt is delivered).
    let deadline = Instant::now() + Duration::from_secs(30);
    let listed = loop {
        let o = brygga("inbox", &soc, &secret, &["--status", "NEW"]).await;
        assert!(o.status.success(), "{}", show(&o));
        if let Some(line) = out(&o).lines().find(|l| l.contains(id)).map(str::to_owned) {
            break line;
        }
        assert!(Instant::now() < deadline, "{}", show(&o));
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert!(listed.contains("NEW") && listed.contains(&format!("{BUP}/{BUP_FA}")) && listed.contains("Remiss från CLI"), "{listed}");
    // Only received messages: the sending node's inbox does not show it, its sent list does.
    let o = brygga("inbox", &bup, &secret, &[]).await;
    assert!(o.status.success() && !out(&o).contains(id), "{}", show(&o));
    let o = brygga("inbox", &bup, &secret, &["--sent", "--address", BUP_FA]).await;
    assert!(out(&o).contains(id) && out(&o).contains("ACCEPTED"), "{}", show(&o));
    // Filters reach the API: another status, a later start.
    let o = brygga("inbox", &soc, &secret, &["--status", "ERROR"]).await;
    assert!(o.status.success() && !out(&o).contains(id), "{}", show(&o));
    let o = brygga("inbox", &soc, &secret, &["--since", "2999-01-01T00:00:00Z", "--address", SOC_FA]).await;
    assert!(o.status.success() && out(&o).contains("no messages"), "{}", show(&o));
    let o = brygga("inbox", &soc, &secret, &["--json"]).await;
    let body: Value = serde_json::from_str(&out(&o)).unwrap();
    assert!(body["data"].as_array().unwrap().iter().any(|m| m["attributes"]["messageId"] == id), "{body:#}");

    // Fetched with its attachment, saved byte-identical.
    let save = dir.path().join("saved");
    std::fs::create_dir(&save).unwrap();
    let o = brygga("inbox", &soc, &secret, &["--get", id, "--save-dir", save.to_str().unwrap()]).await;
    assert!(o.status.success(), "{}", show(&o));
    assert!(out(&o).contains("Se bifogat underlag.") && out(&o).contains("saved as"), "{}", show(&o));
    assert_eq!(std::fs::read(save.join("underlag.pdf")).unwrap(), attachment);
    // Again: the saved file is not overwritten.
    let o = brygga("inbox", &soc, &secret, &["--get", id, "--save-dir", save.to_str().unwrap()]).await;
    assert_eq!(o.status.code(), Some(EXIT_USAGE), "{}", show(&o));
    assert!(err(&o).contains("not overwritten"), "{}", show(&o));

    // A wrong secret: refused, readably.
    let wrong = secret_file(dir.path(), "wrong.secret", "not-the-secret-4711", 0o600);
    let o = brygga("inbox", &soc, &wrong, &[]).await;
    assert_eq!(o.status.code(), Some(EXIT_REFUSED), "{}", show(&o));
    assert!(err(&o).contains("refused client \"soc-system\""), "{}", show(&o));
    // Another client's message: not found (an API error, not a refusal).
    let o = brygga("status", &soc, &secret, &["00000000-0000-4000-8000-000000000000"]).await;
    assert_eq!(o.status.code(), Some(EXIT_API), "{}", show(&o));
    assert!(err(&o).contains("404"), "{}", show(&o));

    // A bad request: the problem's issue, with its pointer.
    let o = brygga("send", &bup, &secret, &["--to", "0203:nobody.example", "--to-address", "x", "--label", "L", "--text", "t"]).await;
    assert_eq!(o.status.code(), Some(EXIT_API), "{}", show(&o));
    assert!(err(&o).contains("400") && err(&o).contains("at /data/attributes/recipient"), "{}", show(&o));

    // A secret file others may read, https without a CA, no content: usage errors.
    let open = secret_file(dir.path(), "open.secret", SECRET, 0o644);
    let o = brygga("status", &bup, &open, &[id]).await;
    assert_eq!(o.status.code(), Some(EXIT_USAGE), "{}", show(&o));
    assert!(err(&o).contains("chmod 600"), "{}", show(&o));
    let mut c = Command::new(env!("CARGO_BIN_EXE_brygga"));
    c.args(["status", id, "--api", &bup.url, "--client-id", bup.client, "--client-secret-file", secret.to_str().unwrap()]);
    let o = run(c).await;
    assert_eq!(o.status.code(), Some(EXIT_USAGE), "{}", show(&o));
    assert!(err(&o).contains("--ca-file"), "{}", show(&o));
    let o = brygga("send", &bup, &secret, &["--to", SOC, "--to-address", SOC_FA, "--label", "L"]).await;
    assert_eq!(o.status.code(), Some(EXIT_USAGE), "{}", show(&o));

    // The recipient's node is down: --wait gives up after its timeout,
    // with the status it last saw.
    let mut net = net;
    net.stop_node(SOC).await.unwrap();
    let o = brygga("send", &bup, &secret, &["--to", SOC, "--to-address", SOC_FA, "--label", "L", "--text", "t", "--wait", "--wait-timeout", "3"]).await;
    assert_eq!(o.status.code(), Some(EXIT_WAIT_TIMEOUT), "{}", show(&o));
    assert!(err(&o).contains("after 3 s"), "{}", show(&o));

    net.stop().await.unwrap();
}
