//! Nodes that talk: an SMP and nodes on loopback, real TLS, real files.
//! Numbers refer to DIGG's platform approval test cases (Testfall för
//! plattformsgodkännande, TF-01 to TF-10).

use std::time::{Duration, Instant};

use brygga::node::devnet::{DevNetwork, DevOrg};
use brygga::node::outbox::OutboxState;
use brygga::sdk::message::{ContentFile, OrgAddress, SdkMessage};
use time::OffsetDateTime;

const BUP: &str = "0203:bup.regionstockholm.se";
const SOC: &str = "0203:socialtjanst.stockholm.se";

fn orgs() -> Vec<DevOrg> {
    vec![
        DevOrg::new("Region Stockholm BUP", BUP, "bup.envagin"),
        DevOrg::new("Stockholms stad socialtjänst", SOC, "soc.mottagning"),
    ]
}

fn message(from: (&str, &str), to: (&str, &str), attachment: Option<Vec<u8>>) -> SdkMessage {
    let mut b = SdkMessage::builder(OffsetDateTime::now_utc(), OrgAddress::new(from.0, from.1), OrgAddress::new(to.0, to.1))
        .label("Orosanmälan")
        .text("# Orosanmälan\n\nSe bifogat underlag.");
    if let Some(bytes) = attachment {
        b = b.attachment(ContentFile::new("underlag.pdf", "application/pdf", bytes));
    }
    b.build().expect("valid message")
}

/// Polls the sender's outbox until `id` reaches a final state; returns every
/// state seen on the way.
async fn follow(net: &DevNetwork, org: &str, id: &str, limit: Duration) -> Vec<OutboxState> {
    let store = &net.node(org).state.store;
    let start = Instant::now();
    let mut seen = Vec::new();
    while start.elapsed() < limit {
        if let Some(entry) = store.outbox_entry(id).unwrap() {
            if seen.last() != Some(&entry.state()) {
                seen.push(entry.state());
            }
            if entry.state().is_final() {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tf01_tf04_a_message_with_a_10_mb_attachment_goes_through_and_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let net = DevNetwork::start(dir.path(), &orgs()).await.expect("network starts");
    let mut pdf = b"%PDF-1.4\n".to_vec();
    pdf.extend((0..10 * 1024 * 1024u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8 & 0x7f));
    let msg = message((BUP, "bup.envagin"), (SOC, "soc.mottagning"), Some(pdf.clone()));

    let sender = &net.node(BUP).state;
    let entry = sender.submit("test", msg.to_xml()).await.expect("submission accepted");
    assert_eq!(entry.state(), OutboxState::Scheduled);

    let states = follow(&net, BUP, msg.message_id(), Duration::from_secs(60)).await;
    assert!(states.contains(&OutboxState::WaitingForReceipt) || states.contains(&OutboxState::Accepted), "{states:?}");
    assert_eq!(states.last(), Some(&OutboxState::Accepted), "states seen: {states:?}");

    // The receiver has it, intact, in the right inbox.
    let receiver = &net.node(SOC).state;
    let inbox = receiver.store.inbox("soc.mottagning", &Default::default()).unwrap();
    assert_eq!(inbox.len(), 1);
    let stored = receiver.store.load_inbound_payload("soc.mottagning", msg.message_id()).unwrap().expect("payload");
    let back = SdkMessage::from_xml(&stored, &Default::default()).unwrap();
    assert_eq!(back.documents[0].content_files[0].content, pdf);
    assert_eq!(back, msg);

    // Both audit logs verify and hold the exchange.
    for org in [BUP, SOC] {
        let log = net.node(org).state.config.data_dir.join("audit.log");
        let report = brygga::audit::verify(&log).expect("audit chain verifies");
        assert!(report.entries >= 2, "{org}: {report:?}");
    }
    net.stop().await.unwrap();
}
