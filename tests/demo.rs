//! The README's first command: `brygga demo` runs the pilots between three
//! nodes and exits 0 only when every exchange ended as expected.

mod support;

#[test]
fn demo_runs_the_pilots_between_three_nodes_and_shows_a_rejection() {
    let out = support::brygga(&["demo"]);
    let text = support::stdout(&out);
    assert_eq!(out.status.code(), Some(0), "stdout:\n{text}\nstderr:\n{}", support::stderr(&out));
    assert_eq!(text.matches("   as expected").count(), 4, "{text}");
    // Which intermediate states the sender catches depends on timing; the
    // final state of each exchange does not.
    let finals: Vec<&str> = text
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("sender sees: "))
        .map(|path| path.rsplit(" → ").next().unwrap_or(path))
        .collect();
    assert_eq!(finals, ["ACCEPTED", "ACCEPTED", "ACCEPTED", "REJECTED"], "{text}");
    assert!(text.contains("REJECTED (signed, verified, correlated)"), "{text}");
    assert!(text.contains("BV not-found: Wrong or unknown ns:subOrganization/ns:organizationId"), "{text}");
    assert_eq!(text.matches("audit log of").count(), 3, "{text}");
    assert!(text.contains("Summary: 4 of 4 exchanges ended as expected"), "{text}");
}
