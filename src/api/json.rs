//! SDK messages as DIGG's message API writes them (`messageAttributesDef`),
//! and the create request (`messageCreateAttributesDef`) read into an
//! [`SdkMessage`], every problem reported with a JSON pointer.
//!
//! Mapping (B1.4.2 "Informationsobjekt", B1.3.3):
//!
//! | API attribute | SDK message |
//! |---|---|
//! | `creationDateTime`, `messageId`, `conversationId`, `refToMessageId`, `confidentiality`, `label` | the same header fields |
//! | `generatingSystem` `{root, extension}` | `generatingSystem` (its `label` has no place in the message and is dropped) |
//! | `sender`, `recipient` | `senderID/extension`, `recipientID/extension` |
//! | `senderAttention`, `recipientAttention` | `sender/attention`, `recipient/attention`: `subOrganization` `{root, extension, label}`, `attentionPerson[]` = `person{personId, label}`, `referenceId[]` = `reference{referenceId, label}` |
//! | `digitalDocument[]` | `messageBody/documents`: `documentId`, `documentName`, `index`, `contentTextBody[]` = `ContentText/characterSequence`, `contentFiles[]` `{fileName, contentType, content}` (base64) |
//!
//! In a create request a content file may name an upload (`attachmentId`,
//! see [`super::uploads`]) instead of carrying `content`; `fileName` and
//! `contentType` then default to the upload's. The message read has a
//! short unique placeholder as that file's content, and
//! [`CreateRequest::uploads`] says where the upload's bytes go.
//!
//! On output, a value the message leaves out but the schema requires
//! (`label`; a person's `label` or id) is written as an empty string.

use base64::Engine as _;
use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use super::problem::Issue;
use crate::sdk::message::{
    Attention, ContentFile, CreationDateTime, DigitalDocument, Ii, MessageHeader, MessageUuid, Party, Person, Reference,
    SdkMessage, SubOrganization, FUNCTIONAL_ADDRESS_ROOT, LABEL_MAX_CHARS,
};
use crate::sdk::Problem;

/// The longest `extension` the schema allows.
const EXTENSION_MAX_CHARS: usize = 256;

// ---------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------

fn ii_json(ii: &Ii) -> Value {
    json!({ "root": ii.root, "extension": ii.extension })
}

fn attention_json(a: &Attention) -> Value {
    let persons: Vec<Value> = a
        .persons
        .iter()
        .map(|p| {
            let (root, extension) = p.id.as_ref().map(|i| (i.root.as_str(), i.extension.as_str())).unwrap_or(("", ""));
            json!({ "root": root, "extension": extension, "label": p.label.as_deref().unwrap_or("") })
        })
        .collect();
    let references: Vec<Value> = a
        .references
        .iter()
        .map(|r| json!({ "root": r.id.root, "extension": r.id.extension, "label": r.label.as_deref().unwrap_or("") }))
        .collect();
    let mut sub = json!({ "root": a.sub_organization.id.root, "extension": a.sub_organization.id.extension });
    if let Some(label) = &a.sub_organization.label {
        sub["label"] = json!(label);
    }
    let mut out = json!({ "subOrganization": sub });
    if !persons.is_empty() {
        out["attentionPerson"] = Value::Array(persons);
    }
    if !references.is_empty() {
        out["referenceId"] = Value::Array(references);
    }
    out
}

/// The header's attributes (no status, events or documents).
pub fn header_json(h: &MessageHeader) -> Value {
    let mut a = Map::new();
    a.insert("creationDateTime".into(), json!(h.creation_date_time.as_str()));
    a.insert("messageId".into(), json!(h.message_id.as_str()));
    a.insert("conversationId".into(), json!(h.conversation_id.as_str()));
    if let Some(r) = &h.ref_to_message_id {
        a.insert("refToMessageId".into(), json!(r.as_str()));
    }
    a.insert("confidentiality".into(), json!(h.confidentiality));
    if let Some(g) = &h.generating_system {
        a.insert("generatingSystem".into(), ii_json(g));
    }
    a.insert("recipientAttention".into(), attention_json(&h.recipient.attention));
    if let Some(s) = &h.sender.attention {
        a.insert("senderAttention".into(), attention_json(s));
    }
    a.insert("sender".into(), json!(h.sender.id.extension));
    a.insert("recipient".into(), json!(h.recipient.id.extension));
    a.insert("label".into(), json!(h.label.as_deref().unwrap_or("")));
    Value::Object(a)
}

/// What of the documents to include.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DocumentParts {
    pub texts: bool,
    pub files: bool,
}

pub fn documents_json(documents: &[DigitalDocument], parts: DocumentParts) -> Value {
    let engine = base64::engine::general_purpose::STANDARD;
    Value::Array(
        documents
            .iter()
            .map(|d| {
                let mut out = json!({ "documentId": d.document_id });
                if let Some(n) = &d.document_name {
                    out["documentName"] = json!(n);
                }
                if let Some(i) = &d.index {
                    out["index"] = json!(i);
                }
                if parts.texts && !d.content_texts.is_empty() {
                    out["contentTextBody"] = json!(d.content_texts);
                }
                if parts.files && !d.content_files.is_empty() {
                    let files: Vec<Value> = d
                        .content_files
                        .iter()
                        .map(|f| json!({ "fileName": f.file_name, "contentType": f.content_type, "content": engine.encode(&f.content) }))
                        .collect();
                    out["contentFiles"] = Value::Array(files);
                }
                out
            })
            .collect(),
    )
}

/// The header attribute a filter or sort reads: the sender's or
/// recipient's functional address.
pub fn attention_address(header: &Value, which: &str) -> Option<String> {
    header.get(which)?.get("subOrganization")?.get("extension")?.as_str().map(str::to_owned)
}

/// `creationDateTime` of a header, as an instant.
pub fn creation_instant(header: &Value) -> Option<OffsetDateTime> {
    header.get("creationDateTime")?.as_str().and_then(CreationDateTime::parse).map(|c| c.instant())
}

// ---------------------------------------------------------------------------
// Input
// ---------------------------------------------------------------------------

/// A create request, read.
#[derive(Debug, Clone)]
pub struct CreateRequest {
    pub message: SdkMessage,
    /// The resource id (`data.id`) the client chose, if it chose one.
    pub resource_id: Option<String>,
    /// The sender functional address the request named, if it named one.
    pub sender_functional_address: Option<String>,
    /// Content files that name an upload, in document order.
    pub uploads: Vec<UploadedFile>,
}

/// What a create request may know of an upload of its client.
#[derive(Debug, Clone)]
pub struct UploadInfo {
    pub content_type: String,
    pub file_name: Option<String>,
}

/// A content file whose content is an upload.
#[derive(Debug, Clone)]
pub struct UploadedFile {
    pub attachment_id: String,
    /// The base64 text standing for the content in the message as read:
    /// unique to this request, so it occurs once in the serialised message.
    pub placeholder: String,
    /// `/data/attributes/digitalDocument/{i}/contentFiles/{j}`.
    pub pointer: String,
}

/// Looks up an upload of the requesting client by `attachmentId`.
pub type UploadLookup<'a> = &'a dyn Fn(&str) -> Option<UploadInfo>;

/// Puts a problem with an upload's placeholder content where the request
/// named the upload: `…/attachmentId`, not `…/content`.
pub fn upload_issues(mut issues: Vec<Issue>, uploads: &[UploadedFile]) -> Vec<Issue> {
    for issue in &mut issues {
        if let Some(u) = uploads.iter().find(|u| issue.location.as_deref() == Some(&format!("{}/content", u.pointer))) {
            issue.location = Some(format!("{}/attachmentId", u.pointer));
        }
    }
    issues
}

/// A placeholder: a fixed prefix (so it never looks like an executable to
/// the content rules) and 16 random bytes; its base64 is 40 characters of
/// the base64 alphabet, which XML writes as they are.
fn placeholder() -> Vec<u8> {
    let mut bytes = b"brygga-upload:".to_vec();
    bytes.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    bytes
}

/// Reads the body of `POST /sdk/messages`. `message_id` is used when the
/// request names none; `sender_org_label` and `default_sender_address`
/// fill what the client may leave out.
pub fn read_create(
    body: &Value,
    message_id: &str,
    now: OffsetDateTime,
    default_sender_address: Option<&str>,
    sender_label: Option<&str>,
    uploads: UploadLookup<'_>,
) -> Result<CreateRequest, Vec<Issue>> {
    let mut r = Reader { issues: Vec::new(), lookup: uploads, uploads: Vec::new() };
    let Some(root) = r.object(Some(body), "", true) else { return Err(r.issues) };
    let Some(data) = r.object(root.get("data"), "/data", true) else { return Err(r.issues) };
    if let Some(t) = r.string(data, "type", "/data", false) {
        if t != "messages" {
            r.issue("/data/type", "Invalid value", "type must be \"messages\"");
        }
    }
    let id = r.string(data, "id", "/data", false);
    if id.as_deref().is_some_and(|i| MessageUuid::parse(i).is_none()) {
        r.issue("/data/id", "Invalid value", "id must be a UUID (RFC 4122)");
    }
    let Some(a) = r.object(data.get("attributes"), "/data/attributes", true) else { return Err(r.issues) };
    const P: &str = "/data/attributes";
    // Set by the message service (B1.4.2): checked against the schema,
    // then ignored.
    if let Some(status) = a.get("messageStatus") {
        if !status.as_str().is_some_and(|s| super::digg::STATUSES.contains(&s)) {
            r.issue(&format!("{P}/messageStatus"), "Invalid value", "messageStatus must be one of messageStatusDef (and is set by the message service)");
        }
    }
    if let Some(events) = a.get("events") {
        r.events(events, &format!("{P}/events"));
    }
    let creation = match r.string(a, "creationDateTime", P, false) {
        Some(text) => match CreationDateTime::parse(&text) {
            Some(c) => Some(c),
            None => {
                r.issue(&format!("{P}/creationDateTime"), "Invalid value", "creationDateTime must be UTC, YYYY-MM-DDThh:mm:ss.sssZ (1 to 3 decimals)");
                None
            }
        },
        None => CreationDateTime::from_datetime(now),
    };
    let uuid = |r: &mut Reader, name: &str, given: Option<String>| -> Option<MessageUuid> {
        let text = given?;
        let parsed = MessageUuid::parse(&text);
        if parsed.is_none() {
            r.issue(&format!("{P}/{name}"), "Invalid value", format!("{name} must be a UUID"));
        }
        parsed
    };
    let given_message_id = r.string(a, "messageId", P, false);
    let msg_id = match given_message_id {
        Some(m) => uuid(&mut r, "messageId", Some(m)),
        None => MessageUuid::parse(message_id),
    };
    let conversation_id = r.string(a, "conversationId", P, false);
    let conversation_id = uuid(&mut r, "conversationId", conversation_id);
    let ref_to = r.string(a, "refToMessageId", P, false);
    let ref_to = uuid(&mut r, "refToMessageId", ref_to);
    let confidentiality = r.boolean(a, "confidentiality", P, true);
    let generating_system = match r.object(a.get("generatingSystem"), &format!("{P}/generatingSystem"), false) {
        Some(g) => {
            let at = format!("{P}/generatingSystem");
            r.string(g, "label", &at, false);
            // The schema lets both be left out (nothing is written then);
            // the message needs both or neither.
            let required = g.contains_key("root") || g.contains_key("extension");
            let root = r.string(g, "root", &at, required);
            let extension = r.string(g, "extension", &at, required);
            root.zip(extension).map(|(root, extension)| Ii::new(root, extension))
        }
        None => None,
    };
    let recipient_attention = r.attention(a.get("recipientAttention"), &format!("{P}/recipientAttention"), true);
    let sender_attention = r.attention(a.get("senderAttention"), &format!("{P}/senderAttention"), false);
    let sender = r.string(a, "sender", P, true);
    let recipient = r.string(a, "recipient", P, true);
    let label = r.string(a, "label", P, true);
    if label.as_ref().is_some_and(|l| l.chars().count() > LABEL_MAX_CHARS) {
        r.issue(&format!("{P}/label"), "Too long", format!("label is at most {LABEL_MAX_CHARS} characters"));
    }
    let documents = r.documents(a.get("digitalDocument"), &format!("{P}/digitalDocument"));

    let sender_functional_address = sender_attention.as_ref().map(|s| s.sub_organization.id.extension.clone());
    let sender_attention = match sender_attention {
        Some(s) => Some(s),
        None => match default_sender_address {
            Some(address) => Some(Attention::functional_address(address)),
            None => {
                r.issue(
                    &format!("{P}/senderAttention"),
                    "Missing",
                    "senderAttention.subOrganization.extension is required: the client acts for more than one functional address",
                );
                None
            }
        },
    };
    if !r.issues.is_empty() {
        return Err(r.issues);
    }
    let (Some(creation), Some(msg_id), Some(confidentiality), Some(recipient_attention), Some(sender), Some(recipient), Some(label), Some(documents)) =
        (creation, msg_id, confidentiality, recipient_attention, sender, recipient, label, documents)
    else {
        return Err(vec![Issue::at("", "Invalid request", "the request could not be read")]);
    };
    let conversation_id = conversation_id.unwrap_or_else(|| msg_id.clone());
    let message = SdkMessage {
        header: MessageHeader {
            creation_date_time: creation,
            message_id: msg_id,
            conversation_id,
            ref_to_message_id: ref_to,
            label: Some(label),
            confidentiality,
            generating_system,
            recipient: Party { id: Ii::organization(recipient), label: None, attention: recipient_attention },
            sender: Party { id: Ii::organization(sender), label: sender_label.map(str::to_owned), attention: sender_attention },
        },
        documents,
    };
    // The receiver's rules, on what will be sent (attachment policy aside:
    // the sender cannot know the receiver's).
    let (doc, root) = message.to_document();
    let validation = crate::sdk::message_rules::check(&doc, root, None);
    if !validation.is_accepted() {
        return Err(upload_issues(validation.problems.iter().map(rule_issue).collect(), &r.uploads));
    }
    Ok(CreateRequest { message, resource_id: id, sender_functional_address, uploads: r.uploads })
}

/// An issue for a problem SDK's rules found, located in the request.
pub fn rule_issue(p: &Problem) -> Issue {
    Issue::at(json_pointer(&p.path), format!("{} {}", p.reason.as_str(), p.detail.as_str()), p.text.clone())
}

/// The request's JSON pointer for an XPath into the message; the XPath
/// itself when there is no counterpart.
pub fn json_pointer(xpath: &str) -> String {
    const A: &str = "/data/attributes";
    let steps: Vec<(&str, usize)> = xpath
        .trim_start_matches('/')
        .split('/')
        .map(|s| match s.split_once('[') {
            Some((name, rest)) => (name, rest.trim_end_matches(']').parse().unwrap_or(1)),
            None => (s, 1),
        })
        .collect();
    let names: Vec<&str> = steps.iter().map(|(n, _)| *n).collect();
    let attention = |who: &str, rest: &[(&str, usize)]| -> String {
        match rest.first() {
            Some(("subOrganization", _)) => {
                let field = match rest.get(1) {
                    Some(("organizationId", _)) => rest.get(2).map(|(n, _)| *n).unwrap_or("extension"),
                    Some((other, _)) => other,
                    None => "",
                };
                format!("{A}/{who}/subOrganization/{field}").trim_end_matches('/').to_owned()
            }
            Some(("person", i)) => format!("{A}/{who}/attentionPerson/{}", i - 1),
            Some(("reference", i)) => format!("{A}/{who}/referenceId/{}", i - 1),
            _ => format!("{A}/{who}"),
        }
    };
    match names.as_slice() {
        ["messagePayload", "message", "messageHeader", ..] => match &steps[3..] {
            [("recipient", _), ("recipientID", _), ..] => format!("{A}/recipient"),
            [("sender", _), ("senderID", _), ..] => format!("{A}/sender"),
            [("recipient", _), ("attention", _), rest @ ..] => attention("recipientAttention", rest),
            [("sender", _), ("attention", _), rest @ ..] => attention("senderAttention", rest),
            [("generatingSystem", _), rest @ ..] => match rest.first() {
                Some((n, _)) => format!("{A}/generatingSystem/{n}"),
                None => format!("{A}/generatingSystem"),
            },
            [(field, _), ..] => format!("{A}/{field}"),
            [] => A.to_owned(),
        },
        ["messagePayload", "message", "messageBody", "documents", ..] => {
            let doc = steps[3].1 - 1;
            match steps.get(4) {
                Some(("documentID", _)) => format!("{A}/digitalDocument/{doc}/documentId"),
                Some(("ContentFiles", i)) => {
                    let field = steps.get(5).map(|(n, _)| format!("/{n}")).unwrap_or_default();
                    format!("{A}/digitalDocument/{doc}/contentFiles/{}{field}", i - 1)
                }
                Some(("ContentText", i)) => format!("{A}/digitalDocument/{doc}/contentTextBody/{}", i - 1),
                Some((n, _)) => format!("{A}/digitalDocument/{doc}/{n}"),
                None => format!("{A}/digitalDocument/{doc}"),
            }
        }
        ["messagePayload", "message", "messageBody", ..] => format!("{A}/digitalDocument"),
        _ => xpath.to_owned(),
    }
}

struct Reader<'a> {
    issues: Vec<Issue>,
    lookup: UploadLookup<'a>,
    uploads: Vec<UploadedFile>,
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl Reader<'_> {
    fn issue(&mut self, at: &str, title: &str, detail: impl Into<String>) {
        self.issues.push(Issue::at(at, title, detail));
    }

    fn wrong_type(&mut self, at: &str, expected: &str, v: &Value) {
        self.issue(at, "Wrong type", format!("expected {expected}, got {}", type_name(v)));
    }

    fn missing(&mut self, at: &str) {
        self.issue(at, "Missing", "required");
    }

    fn object<'v>(&mut self, v: Option<&'v Value>, at: &str, required: bool) -> Option<&'v Map<String, Value>> {
        match v {
            Some(Value::Object(m)) => Some(m),
            Some(other) => {
                self.wrong_type(if at.is_empty() { "/" } else { at }, "an object", other);
                None
            }
            None => {
                if required {
                    self.missing(at);
                }
                None
            }
        }
    }

    fn string(&mut self, m: &Map<String, Value>, key: &str, at: &str, required: bool) -> Option<String> {
        let here = format!("{at}/{key}");
        match m.get(key) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => {
                self.wrong_type(&here, "a string", other);
                None
            }
            None => {
                if required {
                    self.missing(&here);
                }
                None
            }
        }
    }

    fn boolean(&mut self, m: &Map<String, Value>, key: &str, at: &str, required: bool) -> Option<bool> {
        let here = format!("{at}/{key}");
        match m.get(key) {
            Some(Value::Bool(b)) => Some(*b),
            Some(other) => {
                self.wrong_type(&here, "a boolean", other);
                None
            }
            None => {
                if required {
                    self.missing(&here);
                }
                None
            }
        }
    }

    /// `Events` (EventDef plus eventIssues of Issue), as the schema has it.
    fn events(&mut self, v: &Value, at: &str) {
        let Some(m) = self.object(Some(v), at, true) else { return };
        self.event_def(m, at);
        let issues_at = format!("{at}/eventIssues");
        for (i, issue) in self.array(m.get("eventIssues"), &issues_at).iter().enumerate() {
            let here = format!("{issues_at}/{i}");
            if let Some(im) = self.object(Some(issue), &here, true) {
                self.event_def(im, &here);
                self.string(im, "in", &here, false);
            }
        }
    }

    /// Types only: `format: uri` is not checked, since DIGG's own example
    /// `instance` is a bare UUID (and the value is ignored anyway).
    fn event_def(&mut self, m: &Map<String, Value>, at: &str) {
        for key in ["type", "instance", "title"] {
            self.string(m, key, at, false);
        }
        self.string(m, "detail", at, false);
        match m.get("status") {
            None => {}
            Some(Value::Number(n)) if n.as_i64().is_some_and(|s| (400..600).contains(&s)) => {}
            Some(_) => self.issue(&format!("{at}/status"), "Invalid value", "status must be an integer from 400 to 599"),
        }
    }

    fn array<'v>(&mut self, v: Option<&'v Value>, at: &str) -> &'v [Value] {
        match v {
            Some(Value::Array(items)) => items,
            Some(other) => {
                self.wrong_type(at, "an array", other);
                &[]
            }
            None => &[],
        }
    }

    fn extension(&mut self, m: &Map<String, Value>, at: &str, required: bool) -> Option<String> {
        let e = self.string(m, "extension", at, required)?;
        if e.chars().count() > EXTENSION_MAX_CHARS {
            self.issue(&format!("{at}/extension"), "Too long", format!("extension is at most {EXTENSION_MAX_CHARS} characters"));
        }
        Some(e)
    }

    /// `personDef` / `referenceDef`: root, extension and label, all required.
    fn ii_with_label(&mut self, v: &Value, at: &str) -> Option<(Ii, String)> {
        let m = self.object(Some(v), at, true)?;
        let root = self.string(m, "root", at, true);
        let extension = self.extension(m, at, true);
        let label = self.string(m, "label", at, true);
        Some((Ii::new(root?, extension?), label?))
    }

    fn attention(&mut self, v: Option<&Value>, at: &str, required: bool) -> Option<Attention> {
        let m = self.object(v, at, required)?;
        let sub_at = format!("{at}/subOrganization");
        let sub = self.object(m.get("subOrganization"), &sub_at, true);
        let persons_at = format!("{at}/attentionPerson");
        let persons: Vec<Person> = self
            .array(m.get("attentionPerson"), &persons_at)
            .iter()
            .enumerate()
            .filter_map(|(i, p)| self.ii_with_label(p, &format!("{persons_at}/{i}")))
            .map(|(id, label)| Person { id: Some(id), label: Some(label) })
            .collect();
        let refs_at = format!("{at}/referenceId");
        let references: Vec<Reference> = self
            .array(m.get("referenceId"), &refs_at)
            .iter()
            .enumerate()
            .filter_map(|(i, r)| self.ii_with_label(r, &format!("{refs_at}/{i}")))
            .map(|(id, label)| Reference { id, label: Some(label) })
            .collect();
        let sub = sub?;
        if let Some(root) = self.string(sub, "root", &sub_at, false) {
            if root != FUNCTIONAL_ADDRESS_ROOT {
                self.issue(&format!("{sub_at}/root"), "Invalid value", format!("root must be {FUNCTIONAL_ADDRESS_ROOT}"));
            }
        }
        let label = self.string(sub, "label", &sub_at, false);
        let extension = self.extension(sub, &sub_at, true)?;
        Some(Attention {
            persons,
            sub_organization: SubOrganization { id: Ii::functional_address(extension), label },
            references,
        })
    }

    /// `None` for a content file with `content`; the upload for one with
    /// `attachmentId` (`Err` once the issue is noted). Exactly one of the two.
    #[allow(clippy::result_unit_err)]
    fn upload_of(&mut self, fm: &Map<String, Value>, file_at: &str) -> Option<Result<(String, UploadInfo), ()>> {
        match (fm.get("content"), fm.get("attachmentId")) {
            (Some(_), Some(_)) => {
                self.issue(file_at, "Invalid value", "give either content or attachmentId, not both");
                Some(Err(()))
            }
            (None, None) => {
                self.issue(&format!("{file_at}/content"), "Missing", "content (base64) or attachmentId (an upload) is required");
                Some(Err(()))
            }
            (Some(_), None) => None,
            (None, Some(_)) => {
                let at = format!("{file_at}/attachmentId");
                let Some(text) = self.string(fm, "attachmentId", file_at, true) else { return Some(Err(())) };
                let Some(id) = super::uploads::parse_id(&text) else {
                    self.issue(&at, "Invalid value", "attachmentId must be the id of an upload (a UUID)");
                    return Some(Err(()));
                };
                if self.uploads.iter().any(|u| u.attachment_id == id) {
                    self.issue(&at, "Invalid value", "an upload can be used once per message");
                    return Some(Err(()));
                }
                match (self.lookup)(&id) {
                    Some(info) => Some(Ok((id, info))),
                    None => {
                        self.issue(&at, "BV not-found", "no upload with this attachmentId (unknown, expired or used)");
                        Some(Err(()))
                    }
                }
            }
        }
    }

    fn documents(&mut self, v: Option<&Value>, at: &str) -> Option<Vec<DigitalDocument>> {
        if v.is_none() {
            self.issue(at, "Missing", "a message carries at least one document (text or attachment)");
            return None;
        }
        let items = self.array(v, at);
        if items.is_empty() && matches!(v, Some(Value::Array(_))) {
            self.issue(at, "Missing", "a message carries at least one document (text or attachment)");
        }
        let before = self.issues.len();
        let mut documents = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let here = format!("{at}/{i}");
            let Some(m) = self.object(Some(item), &here, true) else { continue };
            let document_id = self.string(m, "documentId", &here, true);
            let document_name = self.string(m, "documentName", &here, false);
            let index = self.string(m, "index", &here, false);
            let texts_at = format!("{here}/contentTextBody");
            let mut content_texts = Vec::new();
            for (j, t) in self.array(m.get("contentTextBody"), &texts_at).iter().enumerate() {
                match t {
                    Value::String(s) => content_texts.push(s.clone()),
                    other => self.wrong_type(&format!("{texts_at}/{j}"), "a string", other),
                }
            }
            let files_at = format!("{here}/contentFiles");
            let mut content_files = Vec::new();
            for (j, f) in self.array(m.get("contentFiles"), &files_at).iter().enumerate() {
                let file_at = format!("{files_at}/{j}");
                let Some(fm) = self.object(Some(f), &file_at, true) else { continue };
                let upload = self.upload_of(fm, &file_at);
                // Required unless the upload gives them (or it could not be
                // found, which is the issue then).
                let (need_name, need_type) = match &upload {
                    Some(Ok((_, info))) => (info.file_name.is_none(), false),
                    _ if fm.contains_key("attachmentId") => (false, false),
                    _ => (true, true),
                };
                let file_name = self.string(fm, "fileName", &file_at, need_name);
                let content_type = self.string(fm, "contentType", &file_at, need_type);
                let (file_name, content_type, content) = match upload {
                    None => {
                        let content = self.string(fm, "content", &file_at, false).and_then(|c| {
                            let decoded = base64::engine::general_purpose::STANDARD.decode(c.as_bytes());
                            if decoded.is_err() {
                                self.issue(&format!("{file_at}/content"), "Invalid value", "content must be base64 (RFC 4648, with padding)");
                            }
                            decoded.ok()
                        });
                        (file_name, content_type, content)
                    }
                    Some(Err(())) => (file_name, content_type, None),
                    Some(Ok((attachment_id, info))) => {
                        let content = placeholder();
                        self.uploads.push(UploadedFile {
                            attachment_id,
                            placeholder: base64::engine::general_purpose::STANDARD.encode(&content),
                            pointer: file_at.clone(),
                        });
                        (file_name.or(info.file_name), content_type.or(Some(info.content_type)), Some(content))
                    }
                };
                if let (Some(file_name), Some(content_type), Some(content)) = (file_name, content_type, content) {
                    content_files.push(ContentFile::new(file_name, content_type, content));
                }
            }
            if let Some(document_id) = document_id {
                documents.push(DigitalDocument { document_id, document_name, index, content_files, content_texts });
            }
        }
        (self.issues.len() == before && !documents.is_empty()).then_some(documents)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xpaths_map_to_json_pointers() {
        let cases = [
            ("/messagePayload/message/messageHeader/label", "/data/attributes/label"),
            ("/messagePayload/message/messageHeader/sender/senderID/extension", "/data/attributes/sender"),
            (
                "/messagePayload/message/messageHeader/recipient/attention/subOrganization/organizationId/extension",
                "/data/attributes/recipientAttention/subOrganization/extension",
            ),
            ("/messagePayload/message/messageHeader/recipient/attention/person[2]/personId/extension", "/data/attributes/recipientAttention/attentionPerson/1"),
            ("/messagePayload/message/messageBody/documents[2]/ContentFiles/contentType", "/data/attributes/digitalDocument/1/contentFiles/0/contentType"),
            ("/messagePayload/message/messageBody/documents/ContentText[3]", "/data/attributes/digitalDocument/0/contentTextBody/2"),
            ("NA", "NA"),
        ];
        for (xpath, pointer) in cases {
            assert_eq!(json_pointer(xpath), pointer, "{xpath}");
        }
    }

    #[test]
    fn bad_requests_name_every_field() {
        let body = json!({"data": {"type": "message", "attributes": {
            "confidentiality": "yes", "label": 7, "sender": "0203:a.se",
            "recipientAttention": {"subOrganization": {}},
            "digitalDocument": [{"contentFiles": [{"fileName": "a", "contentType": "text/plain", "content": "!!"}]}],
            "messageStatus": "SENT", "events": {"status": 700}
        }}});
        let issues = read_create(&body, "6f9c3cbe-1f0e-4b55-9b0b-2b0b0b0b0b0b", OffsetDateTime::now_utc(), Some("fa"), None, &|_| None).unwrap_err();
        let at: Vec<&str> = issues.iter().filter_map(|i| i.location.as_deref()).collect();
        for expected in [
            "/data/type",
            "/data/attributes/messageStatus",
            "/data/attributes/events/status",
            "/data/attributes/confidentiality",
            "/data/attributes/label",
            "/data/attributes/recipient",
            "/data/attributes/recipientAttention/subOrganization/extension",
            "/data/attributes/digitalDocument/0/documentId",
            "/data/attributes/digitalDocument/0/contentFiles/0/content",
        ] {
            assert!(at.contains(&expected), "{expected} not in {at:?}");
        }
    }
}
