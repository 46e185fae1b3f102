//! `brygga demo`: the two Stockholm pilots between three nodes on this
//! machine, with fresh keys and no setup.
//!
//! Starts an SMP and a node each for Region Stockholm BUP, Stockholms stad
//! social services and Stockholms stad student health (development PKI in a
//! temporary directory, every listener on loopback, AS4 over mutual TLS).
//! Messages are submitted through each node's local API; the demo waits for
//! the business receipts and prints what each sender sees, then checks every
//! node's audit chain. One message is addressed to a functional address
//! its receiving organisation does not have, to show a rejection and its
//! receipt.

use std::time::{Duration, Instant};

use time::OffsetDateTime;

use super::{CmdResult, Failure};
use crate::node::devnet::{DevNetwork, DevOrg};
use crate::node::outbox::{OutboxEntry, OutboxState};
use crate::sdk::message::{ContentFile, OrgAddress, SdkMessage};

const BUP: &str = "0203:bup.regionstockholm.se";
const SOCIAL: &str = "0203:socialtjanst.stockholm.se";
const SCHOOL: &str = "0203:elevhalsa.stockholm.se";

fn fail(e: impl std::fmt::Display) -> Failure {
    Failure::usage(format!("demo: {e}"))
}

pub(super) fn run() -> CmdResult {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(fail)?;
    runtime.block_on(demo())
}

struct Exchange {
    title: &'static str,
    from: &'static str,
    to: &'static str,
    message: SdkMessage,
    expect: OutboxState,
}

fn address(org: &str) -> OrgAddress {
    match org {
        BUP => OrgAddress::new(BUP, "bup.envagin").with_label("Region Stockholm BUP"),
        SOCIAL => OrgAddress::new(SOCIAL, "soc.mottagning.barn").with_label("Stockholms stad socialtjänst"),
        _ => OrgAddress::new(SCHOOL, "elevhalsa.remiss").with_label("Stockholms stad elevhälsa"),
    }
}

async fn demo() -> CmdResult {
    println!("Brygga demo: the Stockholm SDK pilots between three nodes on this machine\n");
    let dir = std::env::temp_dir().join(format!("brygga-demo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let orgs = [
        DevOrg::new("Region Stockholm BUP", BUP, "bup.envagin"),
        DevOrg::new("Stockholms stad socialtjänst", SOCIAL, "soc.mottagning.barn"),
        DevOrg::new("Stockholms stad elevhälsa", SCHOOL, "elevhalsa.remiss"),
    ];
    let started = Instant::now();
    let net = DevNetwork::start(&dir, &orgs).await.map_err(fail)?;
    println!("SMP on http://{} publishing three participants", net.smp);
    for node in &net.nodes {
        println!(
            "  {:<30} {:<32} AS4 https://{}  API http://{}",
            node.org.name, node.org.org_id, node.bound.as4, node.bound.api
        );
    }
    println!("  (fresh development PKI in {}, started in {:.1} s)\n", dir.display(), started.elapsed().as_secs_f64());

    let result = run_exchanges(&net).await;
    // Stop first: shutdown lets attempts in flight finish and write their
    // audit entries, so the chains are checked complete.
    let logs: Vec<(String, std::path::PathBuf)> =
        net.nodes.iter().map(|n| (n.org.name.clone(), n.state.config.data_dir.join("audit.log"))).collect();
    net.stop().await.map_err(fail)?;
    let audit = verify_audit(&logs);
    let _ = std::fs::remove_dir_all(&dir);
    let (ok, total) = result?;
    audit?;
    println!("\nSummary: {ok} of {total} exchanges ended as expected; every node stopped cleanly.");
    if ok == total {
        Ok(())
    } else {
        Err(fail("an exchange did not end as expected"))
    }
}

fn exchanges() -> Result<Vec<Exchange>, Failure> {
    let now = OffsetDateTime::now_utc();
    let build = |b: crate::sdk::message::MessageBuilder| b.build().map_err(|v| fail(format!("{:?}", v.problems)));
    let concern = build(
        SdkMessage::builder(now, address(BUP), address(SOCIAL))
            .label("Orosanmälan (AKUT)")
            .text("# Orosanmälan\n\n**Brådskande:** barnet bedöms vara i akut fara. BUP jour har ringt mottagningen.")
            .attachment(ContentFile::new("orosanmalan.xml", "application/xml", b"<concernReport urgency=\"ACUTE\"/>".to_vec())),
    )?;
    let referral = build(
        SdkMessage::builder(now, address(SCHOOL), address(BUP))
            .label("Remiss till BUP")
            .text("# Remiss\n\nFrågeställning: utredning av koncentrationssvårigheter. Vårdnadshavare har samtyckt.")
            .attachment(ContentFile::new("remiss.pdf", "application/pdf", demo_pdf())),
    )?;
    let reply = build(
        SdkMessage::builder(now, address(BUP), address(SCHOOL))
            .in_reply_to(&referral)
            .label("Remissvar: mottagen")
            .text("Remissen är mottagen och bedöms inom två veckor."),
    )?;
    let misaddressed = build(
        SdkMessage::builder(now, address(SCHOOL), OrgAddress::new(BUP, "bup.okand.mottagning"))
            .label("Remiss")
            .text("Remiss till en mottagning som inte finns."),
    )?;
    Ok(vec![
        Exchange { title: "1. Concern report, BUP to social services", from: BUP, to: SOCIAL, message: concern, expect: OutboxState::Accepted },
        Exchange { title: "2. Referral, student health to BUP", from: SCHOOL, to: BUP, message: referral, expect: OutboxState::Accepted },
        Exchange { title: "3. Referral reply (RECEIVED), BUP to student health", from: BUP, to: SCHOOL, message: reply, expect: OutboxState::Accepted },
        Exchange { title: "4. A referral to a functional address BUP does not have", from: SCHOOL, to: BUP, message: misaddressed, expect: OutboxState::Rejected },
    ])
}

async fn run_exchanges(net: &DevNetwork) -> Result<(u32, u32), Failure> {
    let http = reqwest::Client::new();
    let list = exchanges()?;
    // Submit everything first through the local APIs, then follow each.
    for x in &list {
        let api = net.node(x.from).bound.api;
        let response = http
            .post(format!("http://{api}/local/v1/messages"))
            .body(x.message.to_xml())
            .send()
            .await
            .map_err(fail)?;
        if response.status() != reqwest::StatusCode::ACCEPTED {
            let status = response.status();
            return Err(fail(format!("{}: submission refused ({status}): {}", x.title, response.text().await.unwrap_or_default())));
        }
    }
    let mut ok = 0;
    for x in &list {
        let sender = &net.node(x.from).state;
        let receiver = net.node(x.to);
        println!("{}", x.title);
        println!("   message {}  conversation {}", x.message.message_id(), x.message.conversation_id());
        if let Some(r) = x.message.ref_to_message_id() {
            println!("   in reply to {r}");
        }
        let (states, entry) = follow(sender, x.message.message_id(), Duration::from_secs(60)).await?;
        let path: Vec<&str> = states.iter().map(|s| s.as_str()).collect();
        println!("   sender sees: {}", path.join(" → "));
        if let Some(receipt) = entry.receipt() {
            let verdict = if receipt.accepted { "ACCEPTED" } else { "REJECTED" };
            println!("   receipt {} from {}: {verdict} (signed, verified, correlated)", receipt.receipt_id, receipt.from_org_id);
            for line in &receipt.lines {
                println!("      {} {}: {}", line.reason_code, line.detail_code.as_deref().unwrap_or("-"), line.text);
            }
        }
        let delivered = receiver.state.store.inbox_entry(x.message.recipient_functional_address(), x.message.message_id()).map_err(fail)?;
        match delivered {
            Some(e) => println!("   delivered to {} / {} ({})", receiver.org.name, x.message.recipient_functional_address(), e.state().as_str()),
            None => println!("   not delivered to any inbox at {}", receiver.org.name),
        }
        let as_expected = entry.state() == x.expect;
        println!("   {}\n", if as_expected { "as expected" } else { "NOT AS EXPECTED" });
        ok += u32::from(as_expected);
    }
    Ok((ok, list.len() as u32))
}

/// Waits for `id` to reach a final state at `sender`; returns the states
/// seen on the way and the final entry.
async fn follow(sender: &crate::node::runtime::Shared, id: &str, limit: Duration) -> Result<(Vec<OutboxState>, OutboxEntry), Failure> {
    let start = Instant::now();
    let mut seen: Vec<OutboxState> = Vec::new();
    loop {
        let entry = sender.store.outbox_entry(id).map_err(fail)?.ok_or_else(|| fail("submitted message missing"))?;
        if seen.last() != Some(&entry.state()) {
            seen.push(entry.state());
        }
        if entry.state().is_final() || start.elapsed() > limit {
            return Ok((seen, entry));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn verify_audit(logs: &[(String, std::path::PathBuf)]) -> Result<(), Failure> {
    for (name, log) in logs {
        let report = crate::audit::verify(log).map_err(|e| fail(format!("{name}: audit chain broken: {e}")))?;
        println!("audit log of {name:<30} {report}");
    }
    Ok(())
}

/// A minimal, valid one-page PDF.
fn demo_pdf() -> Vec<u8> {
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj 3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n".to_vec()
}
