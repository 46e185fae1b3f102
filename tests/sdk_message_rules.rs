//! SDK Meddelande v3: DIGG's minimal example validates, and every rule and
//! receipt code rejects a message crafted to break it with exactly the
//! expected (reason, detail).
//!
//! Each crafted case is a string edit applied to two baselines: DIGG's
//! `example-valid-minimal.xml` (when `../shared/sdk-reference` is present)
//! and the same message made with the builder (always), so the rules are
//! tested even without DIGG's files.

mod support;

use brygga::limits::XmlLimits;
use brygga::sdk::message::{
    ContentFile, DigitalDocument, Ii, MessageUuid, OrgAddress, Person, Reference, SdkMessage, NS,
};
use brygga::sdk::message_rules::{
    validate_message, validate_message_bytes, validate_message_bytes_with, SupportedContentTypes,
};
use brygga::sdk::{DetailCode, ReasonCode, Validation};
use brygga::xml::{parse_str, NodeId};
use time::macros::datetime;

use DetailCode::*;
use ReasonCode::*;

/// Put into crafted values that could be personal data; no problem text may
/// ever contain it.
const SECRET: &str = "TOLVAN19121212";

fn digg_minimal() -> Option<String> {
    let dir = support::sdk_reference()?;
    let path = dir.join("message-v3/example-valid-minimal.xml");
    match std::fs::read_to_string(&path) {
        Ok(s) => Some(s),
        Err(e) => {
            eprintln!("SKIPPED: cannot read {}: {e}", path.display());
            None
        }
    }
}

/// DIGG's minimal example, rebuilt with the builder.
fn built_minimal() -> SdkMessage {
    SdkMessage::builder(
        datetime!(2019-08-22 07:27:15.433 UTC),
        OrgAddress::new("0203:test.sender.inera.se", "test.instance.inera.se")
            .with_functional_address_label("SDK: The function ID of the sender"),
        OrgAddress::new("0203:test.recipient.inera.se", "test.function")
            .with_functional_address_label("SDK: The function ID of the recipient"),
    )
    .message_id(MessageUuid::parse("3a94b4ed-a6d7-41e2-945d-b3fa91e8a6e9").expect("uuid"))
    .label("Printerpapper")
    .confidentiality(true)
    .generating_system(Ii::new("1234", "567"))
    .recipient_person(Person { id: Some(Ii::new("1.2.752.129.2.1.3.1", "19121212-1212")), label: None })
    .sender_person(Person { id: Some(Ii::new("personnr", "19121212-1212")), label: None })
    .document(DigitalDocument {
        document_id: "SDK-Meddelande".into(),
        document_name: Some("SDK-Meddelande".into()),
        index: Some("1".into()),
        content_files: Vec::new(),
        content_texts: vec!["Teststring".into()],
    })
    .build()
    .expect("DIGG's minimal example can be built")
}

fn baselines() -> Vec<(&'static str, String)> {
    let built = String::from_utf8(built_minimal().to_xml()).expect("UTF-8");
    let mut v = vec![("builder", built)];
    if let Some(digg) = digg_minimal() {
        v.push(("DIGG example-valid-minimal.xml", digg));
    }
    v
}

fn validate(xml: &str) -> Validation {
    validate_message_bytes(xml.as_bytes(), &XmlLimits::default())
}

fn codes(v: &Validation) -> Vec<(ReasonCode, DetailCode)> {
    v.problems.iter().map(|p| (p.reason, p.detail)).collect()
}

/// Accepted when `expect` is `None`; otherwise rejected, every problem with
/// exactly `expect`. Never echoes the secret.
fn check(name: &str, v: &Validation, expect: Option<(ReasonCode, DetailCode)>) {
    for p in &v.problems {
        assert!(!p.text.contains(SECRET) && !p.path.contains(SECRET), "{name}: problem echoes a value: {p}");
    }
    match expect {
        None => assert!(v.is_accepted(), "{name}: expected ACCEPTED, got {:#?}", v.problems),
        Some(code) => {
            assert!(!v.is_accepted(), "{name}: expected REJECTED {code:?}, got ACCEPTED");
            assert!(codes(v).iter().all(|c| *c == code), "{name}: expected only {code:?}, got {:#?}", v.problems);
        }
    }
}

// --- string editing on `ns2:`-prefixed messages --------------------------

/// Byte range of the `nth` element `tag` (from `<tag>` or `<tag ` to `</tag>`).
fn span(xml: &str, tag: &str, nth: usize) -> (usize, usize) {
    let open = format!("<{tag}");
    let close = format!("</{tag}>");
    let mut from = 0;
    let mut seen = 0;
    loop {
        let at = from + xml[from..].find(&open).unwrap_or_else(|| panic!("no <{tag}> number {nth}"));
        let next = xml.as_bytes().get(at + open.len()).copied();
        if matches!(next, Some(b'>' | b' ' | b'/')) {
            if seen == nth {
                let end = at + xml[at..].find(&close).unwrap_or_else(|| panic!("no </{tag}>")) + close.len();
                return (at, end);
            }
            seen += 1;
        }
        from = at + open.len();
    }
}

fn remove(xml: &str, tag: &str, nth: usize) -> String {
    let (a, b) = span(xml, tag, nth);
    format!("{}{}", &xml[..a], &xml[b..])
}

fn set_text(xml: &str, tag: &str, nth: usize, text: &str) -> String {
    let (a, b) = span(xml, tag, nth);
    let inner_start = a + xml[a..].find('>').expect(">") + 1;
    let inner_end = b - tag.len() - 3;
    format!("{}{}{}", &xml[..inner_start], text, &xml[inner_end..])
}

fn insert_before(xml: &str, tag: &str, nth: usize, fragment: &str) -> String {
    let (a, _) = span(xml, tag, nth);
    format!("{}{}{}", &xml[..a], fragment, &xml[a..])
}

fn insert_after(xml: &str, tag: &str, nth: usize, fragment: &str) -> String {
    let (_, b) = span(xml, tag, nth);
    format!("{}{}{}", &xml[..b], fragment, &xml[b..])
}

/// Applies `f` to the inside of the `nth` element `tag` only.
fn within(xml: &str, tag: &str, nth: usize, f: impl Fn(&str) -> String) -> String {
    let (a, b) = span(xml, tag, nth);
    format!("{}{}{}", &xml[..a], f(&xml[a..b]), &xml[b..])
}

fn end_tag(xml: &str, tag: &str) -> usize {
    xml.find(&format!("</{tag}>")).unwrap_or_else(|| panic!("no </{tag}>"))
}

fn insert_before_end(xml: &str, tag: &str, fragment: &str) -> String {
    let at = end_tag(xml, tag);
    format!("{}{}{}", &xml[..at], fragment, &xml[at..])
}

fn long(n: usize) -> String {
    format!("{SECRET}{}", "x".repeat(n - SECRET.len()))
}

const EXT: &str = r#"<x:ext xmlns:x="urn:example:ext">extension value</x:ext>"#;

fn file(content_type: &str, content: &str) -> String {
    format!(
        "<ns2:ContentFiles><ns2:fileName>brev.pdf</ns2:fileName><ns2:contentType>{content_type}</ns2:contentType>\
         <ns2:content>{content}</ns2:content></ns2:ContentFiles>"
    )
}

type Edit = Box<dyn Fn(&str) -> String>;

struct Case {
    name: &'static str,
    edit: Edit,
    expect: Option<(ReasonCode, DetailCode)>,
}

fn case(name: &'static str, expect: Option<(ReasonCode, DetailCode)>, edit: impl Fn(&str) -> String + 'static) -> Case {
    Case { name, edit: Box::new(edit), expect }
}

const ACCEPTED: Option<(ReasonCode, DetailCode)> = None;
const SV_STRUCTURE: Option<(ReasonCode, DetailCode)> = Some((Sv, Structure));
const BV_INVARIANT: Option<(ReasonCode, DetailCode)> = Some((Bv, Invariant));

fn cases() -> Vec<Case> {
    vec![
        // ---- accepted variations ----
        case("unchanged", ACCEPTED, |x| x.to_owned()),
        case("extension element at the end of messageHeader", ACCEPTED, |x| {
            insert_before_end(x, "ns2:messageHeader", EXT)
        }),
        case("extension elements at the end of message, body, document", ACCEPTED, |x| {
            let x = insert_before_end(x, "ns2:message", EXT);
            let x = insert_before_end(&x, "ns2:messageBody", EXT);
            insert_before_end(&x, "ns2:documents", EXT)
        }),
        case("extension element with element content", ACCEPTED, |x| {
            insert_before_end(x, "ns2:sender", r#"<x:ext xmlns:x="urn:example:ext"><x:a>1</x:a></x:ext>"#)
        }),
        case("confidentiality 1", ACCEPTED, |x| set_text(x, "ns2:confidentiality", 0, "1")),
        case("confidentiality false with whitespace", ACCEPTED, |x| set_text(x, "ns2:confidentiality", 0, " false\n")),
        case("refToMessageId present", ACCEPTED, |x| {
            insert_after(
                x,
                "ns2:conversationId",
                0,
                "<ns2:refToMessageId>0F325210-0690-42FE-B86F-95ECAB821223</ns2:refToMessageId>",
            )
        }),
        case("sender without attention", ACCEPTED, |x| within(x, "ns2:sender", 0, |s| remove(s, "ns2:attention", 0))),
        case("labels of 256 characters", ACCEPTED, |x| {
            let x = set_text(x, "ns2:label", 0, &"å".repeat(256));
            within(&x, "ns2:recipient", 0, |s| {
                within(s, "ns2:subOrganization", 0, |s| set_text(s, "ns2:label", 0, &"å".repeat(256)))
            })
        }),
        case("xsi:schemaLocation on the root", ACCEPTED, |x| {
            x.replacen(
                "<ns2:messagePayload",
                r#"<ns2:messagePayload xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="urn:x a.xsd""#,
                1,
            )
        }),
        case("xsi:type naming the declared type", ACCEPTED, |x| {
            x.replacen(
                "<ns2:messageHeader>",
                r#"<ns2:messageHeader xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="ns2:MessageHeaderType">"#,
                1,
            )
        }),
        case("PDF attachment", ACCEPTED, |x| {
            insert_before(x, "ns2:ContentText", 0, &file("application/pdf", "JVBERi0xLjcK"))
        }),
        case("attachment with line-wrapped base64", ACCEPTED, |x| {
            insert_before(x, "ns2:ContentText", 0, &file("Application/PDF; name=brev.pdf", "JVBE\r\nRi0x\nLjcK"))
        }),
        case("attachment only, no text", ACCEPTED, |x| {
            let x = insert_before(x, "ns2:ContentText", 0, &file("application/pdf", "JVBERi0xLjcK"));
            remove(&x, "ns2:ContentText", 0)
        }),
        // ---- SV structure: the XSD ----
        case("messageId after conversationId", SV_STRUCTURE, |x| {
            let (a, b) = span(x, "ns2:messageId", 0);
            let id = x[a..b].to_owned();
            insert_after(&remove(x, "ns2:messageId", 0), "ns2:conversationId", 0, &id)
        }),
        case("messageId missing", SV_STRUCTURE, |x| remove(x, "ns2:messageId", 0)),
        case("confidentiality missing", SV_STRUCTURE, |x| remove(x, "ns2:confidentiality", 0)),
        case("confidentiality twice", SV_STRUCTURE, |x| {
            insert_after(x, "ns2:confidentiality", 0, "<ns2:confidentiality>false</ns2:confidentiality>")
        }),
        case("conversationId twice", SV_STRUCTURE, |x| {
            let (a, b) = span(x, "ns2:conversationId", 0);
            let c = x[a..b].to_owned();
            insert_after(x, "ns2:conversationId", 0, &c)
        }),
        case("unknown element in the message namespace", SV_STRUCTURE, |x| {
            insert_before(x, "ns2:confidentiality", 0, &format!("<ns2:subject>{SECRET}</ns2:subject>"))
        }),
        case("element without namespace", SV_STRUCTURE, |x| {
            insert_before(x, "ns2:confidentiality", 0, &format!("<note>{SECRET}</note>"))
        }),
        case("extension element inside the sequence", SV_STRUCTURE, |x| {
            insert_before(x, "ns2:confidentiality", 0, EXT)
        }),
        case("extension element in IIType (no wildcard)", SV_STRUCTURE, |x| {
            within(x, "ns2:generatingSystem", 0, |s| insert_after(s, "ns2:extension", 0, EXT))
        }),
        case("message element after an extension element", SV_STRUCTURE, |x| {
            within(x, "ns2:recipient", 0, |s| insert_before(s, "ns2:attention", 0, EXT))
        }),
        case("documents after an extension element", SV_STRUCTURE, |x| {
            let second = "<ns2:documents><ns2:documentID>2</ns2:documentID><ns2:ContentText>\
                          <ns2:characterSequence>t</ns2:characterSequence></ns2:ContentText></ns2:documents>";
            insert_before_end(x, "ns2:messageBody", &format!("{EXT}{second}"))
        }),
        case("creationDateTime is not an xs:dateTime", SV_STRUCTURE, |x| {
            set_text(x, "ns2:creationDateTime", 0, "3 Sept. 2019")
        }),
        case("creationDateTime on 30 February", SV_STRUCTURE, |x| {
            set_text(x, "ns2:creationDateTime", 0, "2019-02-30T07:27:15.433Z")
        }),
        case("confidentiality is not an xs:boolean", SV_STRUCTURE, |x| set_text(x, "ns2:confidentiality", 0, "yes")),
        case("recipient label over 256", SV_STRUCTURE, |x| {
            within(x, "ns2:recipient", 0, |s| {
                insert_after(s, "ns2:recipientID", 0, &format!("<ns2:label>{}</ns2:label>", long(257)))
            })
        }),
        case("sender label over 256", SV_STRUCTURE, |x| {
            insert_after(x, "ns2:senderID", 0, &format!("<ns2:label>{}</ns2:label>", long(300)))
        }),
        case("person label over 256", SV_STRUCTURE, |x| {
            insert_after(x, "ns2:personId", 0, &format!("<ns2:label>{}</ns2:label>", long(257)))
        }),
        case("subOrganization label over 256", SV_STRUCTURE, |x| {
            within(x, "ns2:subOrganization", 1, |s| set_text(s, "ns2:label", 0, &long(257)))
        }),
        case("reference label over 256", SV_STRUCTURE, |x| {
            let reference = format!(
                "<ns2:reference><ns2:referenceId><ns2:root>dnr</ns2:root><ns2:extension>1</ns2:extension></ns2:referenceId>\
                 <ns2:label>{}</ns2:label></ns2:reference>",
                long(257)
            );
            insert_after(x, "ns2:subOrganization", 0, &reference)
        }),
        case("text in element-only content", SV_STRUCTURE, |x| insert_before(x, "ns2:confidentiality", 0, SECRET)),
        case("element inside a simple-typed element", SV_STRUCTURE, |x| {
            set_text(x, "ns2:documentID", 0, &format!("<ns2:b>{SECRET}</ns2:b>"))
        }),
        case("undeclared attribute", SV_STRUCTURE, |x| {
            x.replacen("<ns2:messageId>", &format!("<ns2:messageId lang=\"{SECRET}\">"), 1)
        }),
        case("xml:lang attribute", SV_STRUCTURE, |x| x.replacen("<ns2:label>", "<ns2:label xml:lang=\"sv\">", 1)),
        case("xsi:nil true", SV_STRUCTURE, |x| {
            x.replacen(
                "<ns2:index>",
                r#"<ns2:index xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:nil="true">"#,
                1,
            )
        }),
        case("xsi:type naming another type", SV_STRUCTURE, |x| {
            x.replacen(
                "<ns2:messageHeader>",
                r#"<ns2:messageHeader xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="ns2:MessageBodyType">"#,
                1,
            )
        }),
        case("recipient without attention", SV_STRUCTURE, |x| {
            within(x, "ns2:recipient", 0, |s| remove(s, "ns2:attention", 0))
        }),
        case("attention without subOrganization", SV_STRUCTURE, |x| remove(x, "ns2:subOrganization", 0)),
        case("messageBody without documents", SV_STRUCTURE, |x| remove(x, "ns2:documents", 0)),
        case("ContentText without characterSequence", SV_STRUCTURE, |x| remove(x, "ns2:characterSequence", 0)),
        case("ContentFiles after ContentText", SV_STRUCTURE, |x| {
            insert_after(x, "ns2:ContentText", 0, &file("application/pdf", "JVBERi0xLjcK"))
        }),
        case("root is not messagePayload", SV_STRUCTURE, |x| x.replace("ns2:messagePayload", "ns2:messageLoad")),
        case("wrong namespace", SV_STRUCTURE, |x| {
            x.replace(NS, "urn:riv:infrastructure:messaging:MessageWithAttachments:2")
        }),
        case("not well-formed", SV_STRUCTURE, |x| x.replacen("</ns2:messageBody>", "", 1)),
        // ---- BV invariant: the schematron ----
        case("empty subject label", BV_INVARIANT, |x| set_text(x, "ns2:label", 0, "")),
        case("whitespace-only index", BV_INVARIANT, |x| set_text(x, "ns2:index", 0, " \n\t")),
        case("empty extension element", BV_INVARIANT, |x| {
            insert_before_end(x, "ns2:messageHeader", r#"<x:ext xmlns:x="urn:example:ext"/>"#)
        }),
        case("creationDateTime without time zone", BV_INVARIANT, |x| {
            set_text(x, "ns2:creationDateTime", 0, "2019-09-03T12:04:13.123")
        }),
        case("creationDateTime without fraction", BV_INVARIANT, |x| {
            set_text(x, "ns2:creationDateTime", 0, "2019-09-03T12:04:13Z")
        }),
        case("creationDateTime with four fraction digits", BV_INVARIANT, |x| {
            set_text(x, "ns2:creationDateTime", 0, "2019-09-03T12:04:13.1234Z")
        }),
        case("creationDateTime with +00:00", BV_INVARIANT, |x| {
            set_text(x, "ns2:creationDateTime", 0, "2019-09-03T12:04:13.123+00:00")
        }),
        case("messageId is not a UUID", BV_INVARIANT, |x| set_text(x, "ns2:messageId", 0, SECRET)),
        case("conversationId is not a UUID", BV_INVARIANT, |x| {
            set_text(x, "ns2:conversationId", 0, "3a94b4ed-a6d7-41e2-945d-b3fa91e8a6e")
        }),
        case("refToMessageId is not a UUID", BV_INVARIANT, |x| {
            insert_after(x, "ns2:conversationId", 0, &format!("<ns2:refToMessageId>{SECRET}</ns2:refToMessageId>"))
        }),
        case("conversationId missing (B1.3.3: BV invariant)", BV_INVARIANT, |x| remove(x, "ns2:conversationId", 0)),
        case("recipientID root wrong", BV_INVARIANT, |x| {
            within(x, "ns2:recipientID", 0, |s| set_text(s, "ns2:root", 0, SECRET))
        }),
        case("senderID root wrong", BV_INVARIANT, |x| {
            within(x, "ns2:senderID", 0, |s| set_text(s, "ns2:root", 0, "iso6523"))
        }),
        case("recipient functional address root wrong", BV_INVARIANT, |x| {
            within(x, "ns2:subOrganization", 0, |s| set_text(s, "ns2:root", 0, SECRET))
        }),
        case("sender functional address root wrong", BV_INVARIANT, |x| {
            within(x, "ns2:subOrganization", 1, |s| {
                set_text(s, "ns2:root", 0, "urn:riv:infrastructure:messaging:functionaladdress")
            })
        }),
        case("content is not base64", BV_INVARIANT, |x| {
            insert_before(x, "ns2:ContentText", 0, &file("application/pdf", &format!("{SECRET}!")))
        }),
        case("content base64 with bad padding", BV_INVARIANT, |x| {
            insert_before(x, "ns2:ContentText", 0, &file("application/pdf", "JVBERi0xLjc"))
        }),
        // ---- B1.3.3's own rules ----
        case("sender id without 0203:", BV_INVARIANT, |x| {
            within(x, "ns2:senderID", 0, |s| set_text(s, "ns2:extension", 0, "test.sender.inera.se"))
        }),
        case("recipient id that is not a domain", BV_INVARIANT, |x| {
            within(x, "ns2:recipientID", 0, |s| set_text(s, "ns2:extension", 0, &format!("0203:{SECRET}")))
        }),
        case("document with neither text nor file", BV_INVARIANT, |x| remove(x, "ns2:ContentText", 0)),
        case("subject label over 256 (B1.3.3: BV structure)", Some((Bv, Structure)), |x| {
            set_text(x, "ns2:label", 0, &long(257))
        }),
        case("unsupported attachment type", Some((Bv, NotSupported)), |x| {
            insert_before(x, "ns2:ContentText", 0, &file("image/gif", "R0lGODlh"))
        }),
        case("attachment type PNG (B1.3.3's example)", Some((Bv, NotSupported)), |x| {
            insert_before(x, "ns2:ContentText", 0, &file("PNG", "iVBORw0K"))
        }),
    ]
}

#[test]
fn every_crafted_message_gets_its_code() {
    let bases = baselines();
    let mut ran = 0;
    for (base_name, base) in &bases {
        for c in cases() {
            let xml = (c.edit)(base);
            let name = format!("{} [{base_name}]", c.name);
            let v = validate(&xml);
            // SHOW_PROBLEMS=1 prints every receipt line, for reviewing the texts.
            if std::env::var_os("SHOW_PROBLEMS").is_some() {
                eprintln!("{name}: {:?}", v.problems.iter().map(ToString::to_string).collect::<Vec<_>>());
            }
            check(&name, &v, c.expect);
            ran += 1;
        }
    }
    eprintln!("{ran} crafted messages checked on {} baselines", bases.len());
}

#[test]
fn digg_minimal_example_is_valid() {
    let Some(xml) = digg_minimal() else { return };
    check("bytes", &validate(&xml), None);
    let doc = parse_str(&xml).expect("parses");
    check("tree", &validate_message(&doc, NodeId::DOCUMENT), None);
    let root = doc.document_element().expect("root");
    check("root element", &validate_message(&doc, root), None);

    let m = SdkMessage::parse(&doc, NodeId::DOCUMENT).expect("typed parse");
    assert_eq!(m.message_id(), "3a94b4ed-a6d7-41e2-945d-b3fa91e8a6e9");
    assert_eq!(m.conversation_id(), "3a94b4ed-a6d7-41e2-945d-b3fa91e8a6e9");
    assert_eq!(m.sender_org_id(), "0203:test.sender.inera.se");
    assert_eq!(m.recipient_org_id(), "0203:test.recipient.inera.se");
    assert_eq!(m.recipient_functional_address(), "test.function");
    assert_eq!(m.sender_functional_address(), Some("test.instance.inera.se"));
    assert_eq!(m.header.creation_date_time.as_str(), "2019-08-22T07:27:15.433Z");
    assert_eq!(m.header.creation_date_time.instant(), datetime!(2019-08-22 07:27:15.433 UTC));
    assert_eq!(m.documents[0].content_texts, vec!["Teststring".to_owned()]);
    // The builder's rendition of the example is the same message.
    assert_eq!(m, built_minimal());
}

#[test]
fn message_inside_payload_content() {
    let inner = String::from_utf8(built_minimal().to_xml()).expect("UTF-8");
    let xhe = format!(
        r#"<xhe:XHE xmlns:xhe="urn:example:xhe"><xhe:Payload><xhe:PayloadContent>
        {inner}
        </xhe:PayloadContent></xhe:Payload></xhe:XHE>"#
    );
    let doc = parse_str(&xhe).expect("parses");
    let payload = doc.child_elements(doc.document_element().expect("root")).next().expect("Payload");
    let content = doc.child_elements(payload).next().expect("PayloadContent");
    check("in PayloadContent", &validate_message(&doc, content), None);
    let m = SdkMessage::parse(&doc, content).expect("typed parse");
    assert_eq!(m, built_minimal());

    // Paths start at messagePayload wherever the message sits.
    let bad = xhe.replacen("<ns2:messageId>3a94b4ed", "<ns2:messageId>xa94b4ed", 1);
    let doc = parse_str(&bad).expect("parses");
    let payload = doc.child_elements(doc.document_element().expect("root")).next().expect("Payload");
    let content = doc.child_elements(payload).next().expect("PayloadContent");
    let v = validate_message(&doc, content);
    assert_eq!(codes(&v), vec![(Bv, Invariant)]);
    assert_eq!(v.problems[0].path, "/messagePayload/message/messageHeader/messageId");

    // Anything else in PayloadContent is not an SDK message.
    let doc = parse_str(r#"<c xmlns:y="urn:y"><y:other/></c>"#).expect("parses");
    let root = doc.document_element().expect("root");
    assert_eq!(codes(&validate_message(&doc, root)), vec![(Sv, Structure)]);
}

#[test]
fn problems_point_at_the_offending_element() {
    for (base_name, base) in baselines() {
        let at = |xml: String| validate(&xml).problems.into_iter().map(|p| p.path).collect::<Vec<_>>();
        assert_eq!(
            at(set_text(&base, "ns2:messageId", 0, "nope")),
            vec!["/messagePayload/message/messageHeader/messageId"],
            "{base_name}"
        );
        assert_eq!(
            at(within(&base, "ns2:senderID", 0, |s| set_text(s, "ns2:extension", 0, "habo.se"))),
            vec!["/messagePayload/message/messageHeader/sender/senderID/extension"],
            "{base_name}"
        );
        let two_docs = insert_after(
            &base,
            "ns2:documents",
            0,
            "<ns2:documents><ns2:documentID>2</ns2:documentID></ns2:documents>",
        );
        assert_eq!(at(two_docs), vec!["/messagePayload/message/messageBody/documents[2]"], "{base_name}");
        let v = validate(&set_text(&base, "ns2:label", 0, &long(300)));
        assert_eq!(v.problems[0].path, "/messagePayload/message/messageHeader/label");
        assert!(v.problems[0].text.contains("300"), "length is reported: {}", v.problems[0].text);
        let v = validate(&within(&base, "ns2:senderID", 0, |s| set_text(s, "ns2:extension", 0, "habo.se")));
        assert_eq!(v.problems[0].text, "Wrong or unknown sender-id");
        let v = validate(&within(&base, "ns2:recipientID", 0, |s| set_text(s, "ns2:extension", 0, "0203:")));
        assert_eq!(v.problems[0].text, "Wrong or unknown recipient-id");
    }
}

#[test]
fn attachment_policy_is_configurable_and_keeps_pdf() {
    for (base_name, base) in baselines() {
        let gif = insert_before(&base, "ns2:ContentText", 0, &file("image/gif", "R0lGODlh"));
        let limits = XmlLimits::default();
        let with_gif: SupportedContentTypes = ["image/gif"].into_iter().collect();
        check(base_name, &validate_message_bytes_with(gif.as_bytes(), &limits, &with_gif), None);
        let png = insert_before(&base, "ns2:ContentText", 0, &file("image/png", "iVBORw0K"));
        let v = validate_message_bytes_with(png.as_bytes(), &limits, &SupportedContentTypes::pdf_only());
        check(base_name, &v, Some((Bv, NotSupported)));
        assert!(v.problems[0].path.ends_with("/ContentFiles/contentType"));
        let pdf = insert_before(&base, "ns2:ContentText", 0, &file("application/pdf", "JVBERi0xLjcK"));
        check(
            base_name,
            &validate_message_bytes_with(pdf.as_bytes(), &limits, &SupportedContentTypes::pdf_only()),
            None,
        );
    }
}

#[test]
fn message_over_30_mb_is_too_long() {
    let limit = brygga::limits::SDK_MESSAGE_MAX_BYTES;
    for (base_name, base) in baselines() {
        // Padding in a comment: the size is checked before anything is parsed.
        let pad = limit + 1 - base.len() - 7;
        let xml = format!("{base}<!--{}-->", " ".repeat(pad));
        assert_eq!(xml.len(), limit + 1);
        let v = validate(&xml);
        check(base_name, &v, Some((Bv, TooLong)));
        assert_eq!(v.problems[0].text, "Message size to large.");
        // Exactly at the limit is not too long.
        let at_limit = format!("{base}<!--{}-->", " ".repeat(pad - 1));
        assert_eq!(at_limit.len(), limit);
        check(base_name, &validate(&at_limit), None);
    }
    // A real one: 23 MiB of attachment is over 30 MiB as base64.
    let big = built_with_pdf(23 * 1024 * 1024);
    let xml = big.to_xml();
    assert!(xml.len() > limit);
    check("23 MiB attachment", &validate_message_bytes(&xml, &XmlLimits::default()), Some((Bv, TooLong)));
}

fn built_with_pdf(size: usize) -> SdkMessage {
    let mut pdf = b"%PDF-1.7\n".to_vec();
    // Not all zeros, so base64 mistakes would show.
    pdf.extend((0..size.saturating_sub(pdf.len())).map(|i| (i * 7 % 251) as u8));
    SdkMessage::builder(
        datetime!(2024-01-31 23:59:59.999 UTC),
        OrgAddress::new("0203:habo.se", "SE2321000016-socialtjanst"),
        OrgAddress::new("0203:arbetsformedlingen.se", "sub-funktion-org-id"),
    )
    .label("Underlag")
    .text("Se bifogad fil.")
    .attachment(ContentFile::new("underlag.pdf", "application/pdf", pdf))
    .build()
    .expect("valid")
}

#[test]
fn builder_to_xml_parse_is_identity() {
    let original = SdkMessage::builder(
        datetime!(2024-05-06 07:08:09.123999 +02:00),
        OrgAddress::new("0203:habo.se", "SE2321000016-SubOrgUnit-id")
            .with_label("Håbo kommun")
            .with_functional_address_label("Socialtjänsten Håbo kommun"),
        OrgAddress::new("0203:arbetsformedlingen.se", "sub-funktion-org-id").with_label("Arbetsförmedlingen"),
    )
    .label("Rubrik: Kallelse till SIP möte")
    .confidentiality(false)
    .generating_system(Ii::new("kodverk-id", "system-id-123456789"))
    .conversation_id(MessageUuid::parse("A8480ADA-6A1F-44A3-A960-9ACAF4EFCDCD").expect("uuid"))
    .ref_to_message_id(MessageUuid::parse("ff325210-0690-42fe-b86f-95ecab821223").expect("uuid"))
    .sender_person(Person {
        id: Some(Ii::new("1.2.752.29.6.2.1", "SE2321000016-person")),
        label: Some("Karin Svensson".into()),
    })
    .recipient_person(Person { id: None, label: Some("Handläggare".into()) })
    .recipient_reference(Reference { id: Ii::new("dnr", "2024/123"), label: None })
    .text("# Kallelse\n\nVälkommen **tisdag** & <onsdag>.")
    .attachment(ContentFile::new("kallelse.pdf", "application/pdf", b"%PDF-1.4 \x00\xff".to_vec()))
    .document(DigitalDocument {
        document_id: "bilaga-2".into(),
        document_name: None,
        index: Some("2".into()),
        content_files: vec![ContentFile::new("a.txt", "text/plain", b"hej".to_vec())],
        content_texts: vec![],
    })
    .build()
    .expect("valid");
    assert_eq!(original.header.creation_date_time.as_str(), "2024-05-06T05:08:09.123Z");
    let xml = original.to_xml();
    check("built", &validate_message_bytes(&xml, &XmlLimits::default()), None);
    let back = SdkMessage::from_xml(&xml, &XmlLimits::default()).expect("parses");
    assert_eq!(back, original);
    assert_eq!(back.conversation_id(), "A8480ADA-6A1F-44A3-A960-9ACAF4EFCDCD");
}

#[test]
fn ten_megabyte_pdf_round_trips() {
    let m = built_with_pdf(10 * 1024 * 1024);
    let xml = m.to_xml();
    check("10 MB", &validate_message_bytes(&xml, &XmlLimits::default()), None);
    let back = SdkMessage::from_xml(&xml, &XmlLimits::default()).expect("parses");
    assert_eq!(back.documents[0].content_files[0].content.len(), 10 * 1024 * 1024);
    assert_eq!(back, m);
}

#[test]
fn builder_refuses_messages_a_receiver_would_reject() {
    let base = || {
        SdkMessage::builder(
            datetime!(2024-05-06 07:08:09 UTC),
            OrgAddress::new("0203:habo.se", "fa-1"),
            OrgAddress::new("0203:arbetsformedlingen.se", "fa-2"),
        )
        .text("t")
    };
    let err = |b: brygga::sdk::message::MessageBuilder| b.build().expect_err("must be refused");
    check("subject over 256", &err(base().label(long(257))), Some((Bv, Structure)));
    check("empty subject", &err(base().label("")), BV_INVARIANT);
    check(
        "bad recipient id",
        &err(SdkMessage::builder(
            datetime!(2024-05-06 07:08:09 UTC),
            OrgAddress::new("0203:habo.se", "fa-1"),
            OrgAddress::new(format!("0203:{SECRET}"), "fa-2"),
        )
        .text("t")),
        BV_INVARIANT,
    );
    check(
        "organisation label over 256",
        &err(SdkMessage::builder(
            datetime!(2024-05-06 07:08:09 UTC),
            OrgAddress::new("0203:habo.se", "fa-1").with_label(long(257)),
            OrgAddress::new("0203:arbetsformedlingen.se", "fa-2"),
        )
        .text("t")),
        SV_STRUCTURE,
    );
    check(
        "no documents",
        &err(SdkMessage::builder(
            datetime!(2024-05-06 07:08:09 UTC),
            OrgAddress::new("0203:habo.se", "fa-1"),
            OrgAddress::new("0203:arbetsformedlingen.se", "fa-2"),
        )),
        SV_STRUCTURE,
    );
    check("empty document", &err(base().document(DigitalDocument::new("2"))), BV_INVARIANT);
    check(
        "year 0000",
        &err(SdkMessage::builder(
            datetime!(0000-06-01 12:00 UTC),
            OrgAddress::new("0203:habo.se", "fa-1"),
            OrgAddress::new("0203:arbetsformedlingen.se", "fa-2"),
        )
        .text("t")),
        BV_INVARIANT,
    );
    // The attachment policy is the receiver's: the builder does not apply it.
    base()
        .attachment(ContentFile::new("x.gif", "image/gif", b"GIF89a".to_vec()))
        .build()
        .expect("sender may send any type");
}

#[test]
fn typed_parse_refuses_invalid_messages() {
    for (base_name, base) in baselines() {
        let bad = set_text(&base, "ns2:messageId", 0, SECRET);
        let v = SdkMessage::from_xml(bad.as_bytes(), &XmlLimits::default()).expect_err("invalid");
        check(base_name, &v, BV_INVARIANT);
        let bad = remove(&base, "ns2:messageId", 0);
        let v = SdkMessage::from_xml(bad.as_bytes(), &XmlLimits::default()).expect_err("invalid");
        check(base_name, &v, SV_STRUCTURE);
    }
}
