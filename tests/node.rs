//! Nodes that talk: an SMP and nodes on loopback, real TLS, real files.
//! Numbers refer to DIGG's platform approval test cases (Testfall för
//! plattformsgodkännande, TF-01 to TF-10).

use std::time::{Duration, Instant};

use brygga::node::devnet::{DevNetwork, DevOrg};
use brygga::node::outbox::OutboxState;
use brygga::sdk::message::{ContentFile, Ii, OrgAddress, Person, SdkMessage};
use time::OffsetDateTime;

const BUP: &str = "0203:bup.regionstockholm.se";
const SOC: &str = "0203:socialtjanst.stockholm.se";

fn orgs() -> Vec<DevOrg> {
    vec![
        DevOrg::new("Region Stockholm BUP", BUP, "bup.envagin"),
        DevOrg::new("Stockholms stad socialtjänst", SOC, "soc.mottagning"),
    ]
}

/// The child the test messages are about (Skatteverket's test personnummer).
const CHILD: &str = "19121212-1212";

fn message(from: (&str, &str), to: (&str, &str), attachment: Option<Vec<u8>>) -> SdkMessage {
    let child = Person { id: Some(Ii::new("1.2.752.129.2.1.3.1", CHILD)), label: None };
    let mut b = SdkMessage::builder(OffsetDateTime::now_utc(), OrgAddress::new(from.0, from.1), OrgAddress::new(to.0, to.1))
        .label("Orosanmälan")
        .recipient_person(child)
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
    let back = SdkMessage::from_xml(&stored.to_vec(u64::MAX).unwrap(), &Default::default()).unwrap();
    assert_eq!(back.documents[0].content_files[0].content, pdf);
    assert_eq!(back, msg);

    // Both audit logs verify, hold the exchange with the child as a keyed
    // hash, and never the personnummer in clear.
    let logs: Vec<_> = [BUP, SOC].iter().map(|org| (*org, net.node(org).state.config.data_dir.clone())).collect();
    net.stop().await.unwrap();
    let child = brygga::audit::PersonId::parse(CHILD).unwrap();
    for (org, data) in logs {
        let log = data.join("audit.log");
        let report = brygga::audit::verify(&log).expect("audit chain verifies");
        assert!(report.entries >= 3, "{org}: {report:?}");
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(!text.contains("19121212") && !text.contains("121212-1212"), "{org}: person id in clear");
        let key = brygga::audit::PersonKey::load(&data.join("audit-person.key")).unwrap();
        let about_child = brygga::audit::export_person(&log, &key, &child).unwrap();
        assert!(!about_child.is_empty(), "{org}: no entry for the child");
        assert!(text.contains("CONFIG_CHANGE") && text.contains("KEY_CHANGE"), "{org}: first start records configuration and keys");
    }
}
