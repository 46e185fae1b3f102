//! The XML attachments of an SDK message (`ContentFiles` of an XML media
//! type), read while the message's tree is at hand, for checks beyond SDK's
//! own rules (the pilots' structured documents). Reading them there spares
//! parsing the message a second time after it is opened.

use std::io::Read;

use crate::xml::{Document, NodeId, TextRef};

use super::message::NS as MESSAGE_NS;

/// How many bytes of an over-long attachment are kept, enough to see its
/// root element and namespace.
const HEAD_BYTES: usize = 6 * 1024;

/// One XML attachment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmlAttachment {
    /// XPath of its `content` element, for receipts.
    pub path: String,
    pub content: XmlContent,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XmlContent {
    /// Decoded, at most the limit.
    Whole(Vec<u8>),
    /// Over the limit: its first bytes only.
    TooLarge { head: Vec<u8> },
    /// Its content could not be read from the spool.
    Unreadable(String),
}

/// Whether a content type is XML.
fn is_xml_type(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/xml" || essence == "text/xml" || essence.ends_with("+xml")
}

/// The XML attachments below `message`, decoded up to `max_bytes` each.
/// An attachment whose content is not base64 is left out: SDK's rules
/// judge it.
pub fn xml_attachments(doc: &Document, message: NodeId, max_bytes: usize) -> Vec<XmlAttachment> {
    let files: Vec<NodeId> =
        doc.descendants(message).filter(|&n| doc.element(n).is_some_and(|e| e.is(MESSAGE_NS, "ContentFiles"))).collect();
    let mut found = Vec::new();
    for (index, file) in files.into_iter().enumerate() {
        let content_type = doc.child_named(file, MESSAGE_NS, "contentType").map(|n| doc.text_content(n)).unwrap_or_default();
        if !is_xml_type(&content_type) {
            continue;
        }
        let Some(content) = doc.child_named(file, MESSAGE_NS, "content") else { continue };
        let path = format!("/messagePayload/message/messageBody/documents/ContentFiles[{}]/content", index + 1);
        let content = match decode(doc, content, max_bytes) {
            Ok(Some(c)) => c,
            Ok(None) => continue,
            Err(e) => XmlContent::Unreadable(e.to_string()),
        };
        found.push(XmlAttachment { path, content });
    }
    found
}

/// The content's bytes, or its head when over `max_bytes`; `None` when it
/// is not base64.
fn decode(doc: &Document, content: NodeId, max_bytes: usize) -> std::io::Result<Option<XmlContent>> {
    use base64::Engine;
    // Base64 of the limit, with room for line breaks.
    let max_text = (max_bytes / 3 + 1) * 4 * 2;
    let mut text = String::new();
    for n in doc.descendants(content) {
        match TextRef::of(doc.kind(n)) {
            Some(TextRef::Inline(t)) => text.push_str(t),
            Some(TextRef::Large(large)) => {
                large.reader()?.take((max_text + 1 - text.len().min(max_text)) as u64).read_to_string(&mut text)?;
            }
            None => {}
        }
        if text.len() > max_text {
            break;
        }
    }
    let over = text.len() > max_text;
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let engine = base64::engine::general_purpose::STANDARD;
    if over {
        let head = &compact[..compact.len().min(HEAD_BYTES / 3 * 4)];
        return Ok(engine.decode(head).ok().map(|head| XmlContent::TooLarge { head }));
    }
    let Ok(bytes) = engine.decode(compact.as_bytes()) else { return Ok(None) };
    if bytes.len() > max_bytes {
        return Ok(Some(XmlContent::TooLarge { head: bytes[..HEAD_BYTES.min(bytes.len())].to_vec() }));
    }
    Ok(Some(XmlContent::Whole(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdk::message::{ContentFile, OrgAddress, SdkMessage};

    #[test]
    fn xml_attachments_are_decoded_up_to_the_limit() {
        let big = format!("<r xmlns=\"urn:x\">{}</r>", "a".repeat(4000));
        let message = SdkMessage::builder(
            time::OffsetDateTime::now_utc(),
            OrgAddress::new("0203:a.example.se", "a"),
            OrgAddress::new("0203:b.example.se", "b"),
        )
        .text("hej")
        .attachment(ContentFile::new("a.pdf", "application/pdf", b"%PDF-1.4\n".to_vec()))
        .attachment(ContentFile::new("small.xml", "application/xml; charset=utf-8", b"<small/>".to_vec()))
        .attachment(ContentFile::new("big.xml", "text/xml", big.clone().into_bytes()))
        .build()
        .unwrap();
        let (doc, root) = message.to_document();
        let found = xml_attachments(&doc, root, 1000);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[0].path, "/messagePayload/message/messageBody/documents/ContentFiles[2]/content");
        assert_eq!(found[0].content, XmlContent::Whole(b"<small/>".to_vec()));
        match &found[1].content {
            XmlContent::TooLarge { head } => assert!(big.as_bytes().starts_with(head) && !head.is_empty()),
            other => panic!("{other:?}"),
        }
        assert_eq!(xml_attachments(&doc, root, 1 << 20)[1].content, XmlContent::Whole(big.into_bytes()));
    }
}
