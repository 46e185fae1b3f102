//! Counters for `/metrics`, in Prometheus' text exposition format.
//!
//! A fixed set of counters, each an atomic: cheap to bump from any task,
//! no registry, no labels with unbounded values (never a message id or a
//! person reference, which must not leave the node in metrics either).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// What the node counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    Submitted,
    SendAttempts,
    SendFailures,
    TransportReceipts,
    InboundAccepted,
    InboundRejected,
    InboundDuplicates,
    InboundRefusedEbms,
    BusinessReceiptsSent,
    BusinessReceiptsReceived,
    ExchangeErrors,
    Quarantined,
}

impl Counter {
    const ALL: [Counter; 12] = [
        Counter::Submitted,
        Counter::SendAttempts,
        Counter::SendFailures,
        Counter::TransportReceipts,
        Counter::InboundAccepted,
        Counter::InboundRejected,
        Counter::InboundDuplicates,
        Counter::InboundRefusedEbms,
        Counter::BusinessReceiptsSent,
        Counter::BusinessReceiptsReceived,
        Counter::ExchangeErrors,
        Counter::Quarantined,
    ];

    fn name_and_help(self) -> (&'static str, &'static str) {
        match self {
            Counter::Submitted => ("brygga_messages_submitted_total", "Messages accepted into the outbox."),
            Counter::SendAttempts => ("brygga_send_attempts_total", "AS4 send attempts."),
            Counter::SendFailures => ("brygga_send_failures_total", "AS4 send attempts that failed."),
            Counter::TransportReceipts => ("brygga_transport_receipts_total", "AS4 receipts received for our messages."),
            Counter::InboundAccepted => ("brygga_inbound_accepted_total", "Inbound messages accepted."),
            Counter::InboundRejected => ("brygga_inbound_rejected_total", "Inbound messages rejected under SDK's rules."),
            Counter::Quarantined => (
                "brygga_quarantined_total",
                "Inbound envelopes rejected without a receipt and kept in <data_dir>/quarantine for operators: alert on any increase.",
            ),
            Counter::InboundDuplicates => ("brygga_inbound_duplicates_total", "Inbound AS4 messages received again."),
            Counter::InboundRefusedEbms => ("brygga_inbound_ebms_errors_total", "Inbound AS4 messages answered with an ebMS error."),
            Counter::BusinessReceiptsSent => ("brygga_business_receipts_sent_total", "Message receipts queued for sending."),
            Counter::BusinessReceiptsReceived => ("brygga_business_receipts_received_total", "Message receipts correlated."),
            Counter::ExchangeErrors => ("brygga_exchange_errors_total", "Messages given up (MESSAGE_EXCHANGE_ERROR)."),
        }
    }
}

#[derive(Debug, Default)]
pub struct Metrics {
    values: [AtomicU64; Counter::ALL.len()],
}

impl Metrics {
    pub fn bump(&self, counter: Counter) {
        self.values[counter as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(&self, counter: Counter) -> u64 {
        self.values[counter as usize].load(Ordering::Relaxed)
    }

    /// The exposition text, with `gauges` (name, help, value) appended.
    pub fn render(&self, gauges: &[(&str, &str, u64)]) -> String {
        let mut out = String::new();
        for c in Counter::ALL {
            let (name, help) = c.name_and_help();
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}", self.get(c));
        }
        // HELP and TYPE once per family: labelled series share them.
        let mut described: Vec<&str> = Vec::new();
        for (name, help, value) in gauges {
            let family = name.split('{').next().unwrap_or(name);
            if !described.contains(&family) {
                described.push(family);
                let _ = writeln!(out, "# HELP {family} {help}\n# TYPE {family} gauge");
            }
            let _ = writeln!(out, "{name} {value}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_gauges() {
        let m = Metrics::default();
        m.bump(Counter::Submitted);
        m.bump(Counter::Submitted);
        let text = m.render(&[
            ("brygga_outbox{state=\"A\"}", "Messages per state.", 3),
            ("brygga_outbox{state=\"B\"}", "Messages per state.", 4),
        ]);
        assert!(text.contains("\nbrygga_messages_submitted_total 2\n"));
        assert!(text.contains("# TYPE brygga_outbox gauge\nbrygga_outbox{state=\"A\"} 3\nbrygga_outbox{state=\"B\"} 4\n"));
        assert_eq!(text.matches("# TYPE brygga_outbox gauge").count(), 1);
    }
}
