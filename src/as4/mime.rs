//! SOAP 1.2 with attachments: `multipart/related` (RFC 2387) with the SOAP
//! envelope as the start part (`application/soap+xml`) and the payload as a
//! binary part named by its Content-ID (`cid:` in the ebMS header).
//!
//! Reading is bounded and complete before anything is interpreted: the body
//! size is checked first, then the content type, then every part's headers
//! under caps; the envelope part has its own, small cap. Only binary
//! transfer encoding (or none) is accepted: what eDelivery AS4
//! implementations send, and no decoding step to get wrong.

use uuid::Uuid;

use super::error::{LocalError, PackagingError};
use super::As4Limits;

/// The SOAP 1.2 media type (RFC 3902).
pub const SOAP_MEDIA_TYPE: &str = "application/soap+xml";
const MULTIPART_RELATED: &str = "multipart/related";

/// Longest `Content-Type` value read, and most parameters in it.
const MAX_CONTENT_TYPE_CHARS: usize = 1024;
const MAX_PARAMETERS: usize = 16;
/// Most header fields in one part.
const MAX_PART_HEADERS: usize = 16;

/// A part to send.
#[derive(Debug, Clone, Copy)]
pub struct OutboundPart<'a> {
    /// Without angle brackets or `cid:`.
    pub content_id: &'a str,
    pub content_type: &'a str,
    pub content: &'a [u8],
}

/// A message ready for HTTP: the `Content-Type` header and the body.
#[derive(Debug, Clone)]
pub struct Packed {
    pub content_type: String,
    pub body: Vec<u8>,
}

/// A received attachment part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// Without angle brackets.
    pub content_id: String,
    /// Media type only, lower case, without parameters.
    pub content_type: String,
    pub content: Vec<u8>,
}

/// A received message split into its envelope and attachments.
#[derive(Debug, Clone)]
pub struct Unpacked {
    pub envelope: Vec<u8>,
    pub attachments: Vec<Attachment>,
}

/// A bare SOAP envelope (signals): `application/soap+xml; charset=UTF-8`.
pub fn pack_envelope(envelope: Vec<u8>) -> Packed {
    Packed { content_type: format!("{SOAP_MEDIA_TYPE}; charset=UTF-8"), body: envelope }
}

/// `multipart/related` with `envelope` as the start part and `attachments`
/// after it, all with binary transfer encoding.
pub fn pack(envelope: &[u8], attachments: &[OutboundPart<'_>]) -> Result<Packed, LocalError> {
    let start = format!("{}@brygga", Uuid::new_v4().simple());
    // A random boundary cannot occur in the parts by accident, but checking
    // is cheap next to sending, and a collision would corrupt the message.
    let boundary = (0..4)
        .map(|_| format!("MIMEBoundary_{}", Uuid::new_v4().simple()))
        .find(|b| {
            let delimiter = format!("--{b}");
            find(envelope, delimiter.as_bytes(), 0).is_none()
                && attachments.iter().all(|p| find(p.content, delimiter.as_bytes(), 0).is_none())
        })
        .ok_or_else(|| LocalError::Build("no MIME boundary absent from the content".into()))?;
    for id in attachments.iter().map(|p| p.content_id).chain([start.as_str()]) {
        if id.is_empty() || id.bytes().any(|b| b.is_ascii_control() || matches!(b, b'<' | b'>' | b' ')) {
            return Err(LocalError::Build(format!("'{id}' cannot be a Content-ID")));
        }
    }

    let size = envelope.len() + attachments.iter().map(|p| p.content.len() + 256).sum::<usize>() + 512;
    let mut body = Vec::with_capacity(size);
    let mut part = |content_type: &str, content_id: &str, content: &[u8]| {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        body.extend_from_slice(format!("Content-Type: {content_type}\r\n").as_bytes());
        body.extend_from_slice(b"Content-Transfer-Encoding: binary\r\n");
        body.extend_from_slice(format!("Content-ID: <{content_id}>\r\n\r\n").as_bytes());
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    };
    part(&format!("{SOAP_MEDIA_TYPE}; charset=UTF-8"), &start, envelope);
    for p in attachments {
        part(p.content_type, p.content_id, p.content);
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    let content_type =
        format!("{MULTIPART_RELATED}; boundary=\"{boundary}\"; type=\"{SOAP_MEDIA_TYPE}\"; start=\"<{start}>\"");
    Ok(Packed { content_type, body })
}

/// Reads a received HTTP body under `limits`: a bare SOAP 1.2 envelope, or
/// `multipart/related` with a SOAP 1.2 start part. Takes the body by value
/// so that a single large attachment is moved out of it, not copied.
pub fn unpack(content_type: &str, mut body: Vec<u8>, limits: &As4Limits) -> Result<Unpacked, PackagingError> {
    if body.len() > limits.max_message_bytes {
        return Err(PackagingError::TooLarge { size: body.len(), limit: limits.max_message_bytes });
    }
    let media = MediaType::parse(content_type)?;
    if media.essence == SOAP_MEDIA_TYPE {
        check_envelope_size(body.len(), limits)?;
        return Ok(Unpacked { envelope: body, attachments: Vec::new() });
    }
    if media.essence == "text/xml" {
        return Err(PackagingError::ContentType("SOAP 1.1 (text/xml) is not supported; AS4 uses SOAP 1.2".into()));
    }
    if media.essence != MULTIPART_RELATED {
        return Err(PackagingError::ContentType(format!("'{}' is not multipart/related", media.essence)));
    }
    if media.parameter("type").is_some_and(|t| !t.eq_ignore_ascii_case(SOAP_MEDIA_TYPE)) {
        return Err(PackagingError::ContentType("the related type is not application/soap+xml".into()));
    }
    let boundary = media.parameter("boundary").ok_or_else(|| PackagingError::ContentType("no boundary".into()))?;
    if boundary.is_empty() || boundary.len() > 70 {
        return Err(PackagingError::ContentType("boundary must be 1 to 70 characters (RFC 2046)".into()));
    }
    let start = media.parameter("start").map(|s| strip_angle_brackets(s).to_owned());

    let parts = split_parts(&body, boundary.as_bytes(), limits.max_parts)?;
    let mut headers = Vec::with_capacity(parts.len());
    for range in &parts {
        headers.push(PartHeaders::parse(&body[range.clone()], limits.max_part_header_bytes)?);
    }

    let root_index = match &start {
        Some(start) => headers
            .iter()
            .position(|h| h.content_id.as_deref() == Some(start.as_str()))
            .ok_or_else(|| PackagingError::Malformed("no part has the start Content-ID".into()))?,
        None => 0,
    };
    let root_type = headers[root_index].content_type.as_deref().unwrap_or("");
    if root_type != SOAP_MEDIA_TYPE {
        return Err(PackagingError::Malformed(format!("the start part is '{root_type}', not {SOAP_MEDIA_TYPE}")));
    }
    let mut content_ids: Vec<&str> = Vec::new();
    for (i, h) in headers.iter().enumerate() {
        let id = h.content_id.as_deref().unwrap_or("");
        if i != root_index && id.is_empty() {
            return Err(PackagingError::Attachment("a part has no Content-ID".into()));
        }
        if !id.is_empty() && content_ids.contains(&id) {
            return Err(PackagingError::Attachment(format!("Content-ID '{id}' is used twice")));
        }
        content_ids.push(id);
    }

    let content = |i: usize| parts[i].start + headers[i].length..parts[i].end;
    let root = content(root_index);
    check_envelope_size(root.len(), limits)?;
    let envelope = body[root].to_vec();
    let others: Vec<usize> = (0..parts.len()).filter(|&i| i != root_index).collect();
    let mut attachments = Vec::with_capacity(others.len());
    for &i in &others {
        let bytes = if others.len() == 1 {
            // Move the one (possibly large) attachment out of the body.
            let range = content(i);
            body.truncate(range.end);
            body.drain(..range.start);
            std::mem::take(&mut body)
        } else {
            body[content(i)].to_vec()
        };
        attachments.push(Attachment {
            content_id: headers[i].content_id.clone().unwrap_or_default(),
            content_type: headers[i].content_type.clone().unwrap_or_else(|| "application/octet-stream".into()),
            content: bytes,
        });
    }
    Ok(Unpacked { envelope, attachments })
}

fn check_envelope_size(size: usize, limits: &As4Limits) -> Result<(), PackagingError> {
    if size > limits.max_envelope_bytes {
        return Err(PackagingError::EnvelopeTooLarge { size, limit: limits.max_envelope_bytes });
    }
    Ok(())
}

fn strip_angle_brackets(s: &str) -> &str {
    s.strip_prefix('<').and_then(|s| s.strip_suffix('>')).unwrap_or(s)
}

/// Byte ranges of the parts (headers and content) between the delimiters.
fn split_parts(body: &[u8], boundary: &[u8], max_parts: usize) -> Result<Vec<std::ops::Range<usize>>, PackagingError> {
    let mut delimiter = b"\r\n--".to_vec();
    delimiter.extend_from_slice(boundary);
    // The first delimiter may open the body, without the CRLF before it.
    let mut at = if body.starts_with(&delimiter[2..]) {
        0
    } else {
        find(body, &delimiter, 0).ok_or_else(|| PackagingError::Malformed("no boundary delimiter".into()))? + 2
    };
    let mut parts = Vec::new();
    loop {
        let mut pos = at + delimiter.len() - 2;
        if body[pos..].starts_with(b"--") {
            break; // close delimiter; the epilogue is ignored
        }
        while matches!(body.get(pos), Some(b' ' | b'\t')) {
            pos += 1;
        }
        if !body[pos..].starts_with(b"\r\n") {
            return Err(PackagingError::Malformed("boundary delimiter not followed by CRLF".into()));
        }
        pos += 2;
        if parts.len() == max_parts {
            return Err(PackagingError::TooManyParts(max_parts));
        }
        let end = find(body, &delimiter, pos)
            .ok_or_else(|| PackagingError::Malformed("the last part is not closed by a boundary".into()))?;
        parts.push(pos..end);
        at = end + 2;
    }
    if parts.is_empty() {
        return Err(PackagingError::Malformed("no parts".into()));
    }
    Ok(parts)
}

/// First position of `needle` in `hay` at or after `from`.
pub(crate) fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    let (&first, _) = needle.split_first()?;
    let mut i = from;
    while i + needle.len() <= hay.len() {
        let window = &hay[i..=hay.len() - needle.len()];
        let at = i + window.iter().position(|&b| b == first)?;
        if hay[at..].starts_with(needle) {
            return Some(at);
        }
        i = at + 1;
    }
    None
}

/// The headers of one part that matter, and where its content starts.
struct PartHeaders {
    content_type: Option<String>,
    content_id: Option<String>,
    /// Bytes of the header block, blank line included.
    length: usize,
}

impl PartHeaders {
    fn parse(part: &[u8], max_bytes: usize) -> Result<Self, PackagingError> {
        let end = if part.starts_with(b"\r\n") {
            0
        } else {
            let limit = part.len().min(max_bytes + 4);
            match find(&part[..limit], b"\r\n\r\n", 0) {
                Some(at) => at + 2,
                None if limit < part.len() => return Err(PackagingError::HeadersTooLarge(max_bytes)),
                None => return Err(PackagingError::Malformed("part headers do not end in a blank line".into())),
            }
        };
        let block = std::str::from_utf8(&part[..end])
            .map_err(|_| PackagingError::Malformed("part headers are not UTF-8".into()))?;
        let mut fields: Vec<(String, String)> = Vec::new();
        for line in block.split("\r\n").filter(|l| !l.is_empty()) {
            if line.starts_with([' ', '\t']) {
                // RFC 5322 folding: a continuation of the previous field.
                let (_, value) =
                    fields.last_mut().ok_or_else(|| PackagingError::Malformed("folded first header".into()))?;
                value.push(' ');
                value.push_str(line.trim());
                continue;
            }
            let (name, value) =
                line.split_once(':').ok_or_else(|| PackagingError::Malformed("header line without a colon".into()))?;
            if fields.len() == MAX_PART_HEADERS {
                return Err(PackagingError::HeadersTooLarge(max_bytes));
            }
            fields.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
        let mut headers = Self { content_type: None, content_id: None, length: end + 2 };
        for (name, value) in fields {
            let slot = match name.as_str() {
                "content-type" => &mut headers.content_type,
                "content-id" => &mut headers.content_id,
                "content-transfer-encoding" => {
                    let encoding = value.to_ascii_lowercase();
                    if !matches!(encoding.as_str(), "binary" | "8bit" | "7bit") {
                        return Err(PackagingError::TransferEncoding(value));
                    }
                    continue;
                }
                _ => continue,
            };
            if slot.is_some() {
                return Err(PackagingError::Malformed(format!("header '{name}' appears twice")));
            }
            *slot = Some(match name.as_str() {
                "content-type" => MediaType::parse(&value)?.essence,
                _ => strip_angle_brackets(&value).to_owned(),
            });
        }
        Ok(headers)
    }
}

/// A parsed `Content-Type` value.
struct MediaType {
    /// `type/subtype`, lower case.
    essence: String,
    /// Names lower case; values unquoted.
    parameters: Vec<(String, String)>,
}

impl MediaType {
    fn parse(value: &str) -> Result<Self, PackagingError> {
        if value.len() > MAX_CONTENT_TYPE_CHARS {
            return Err(PackagingError::ContentType(format!("longer than {MAX_CONTENT_TYPE_CHARS} characters")));
        }
        let bad = |what: &str| PackagingError::ContentType(what.to_owned());
        let (essence, mut rest) = match value.find(';') {
            Some(i) => (&value[..i], &value[i + 1..]),
            None => (value, ""),
        };
        let essence = essence.trim().to_ascii_lowercase();
        let (kind, sub) = essence.split_once('/').ok_or_else(|| bad("no media type"))?;
        if !is_token(kind) || !is_token(sub) {
            return Err(bad("malformed media type"));
        }
        let mut parameters = Vec::new();
        loop {
            rest = rest.trim_start();
            if rest.is_empty() {
                break;
            }
            if parameters.len() == MAX_PARAMETERS {
                return Err(bad("too many parameters"));
            }
            let (name, after) = rest.split_once('=').ok_or_else(|| bad("parameter without '='"))?;
            let name = name.trim().to_ascii_lowercase();
            if !is_token(&name) {
                return Err(bad("malformed parameter name"));
            }
            let after = after.trim_start();
            let (parameter, remainder) = if let Some(quoted) = after.strip_prefix('"') {
                let mut text = String::new();
                let mut chars = quoted.char_indices();
                let mut end = None;
                while let Some((i, c)) = chars.next() {
                    match c {
                        '\\' => text.push(chars.next().ok_or_else(|| bad("unterminated quoted string"))?.1),
                        '"' => {
                            end = Some(i + 1);
                            break;
                        }
                        c => text.push(c),
                    }
                }
                let end = end.ok_or_else(|| bad("unterminated quoted string"))?;
                (text, &quoted[end..])
            } else {
                // Unquoted values are tokens; `start=<id@host>` is seen unquoted
                // in the wild, so anything up to ';' is taken.
                let end = after.find(';').unwrap_or(after.len());
                (after[..end].trim().to_owned(), &after[end..])
            };
            if parameters.iter().any(|(n, _)| *n == name) {
                return Err(bad("a parameter appears twice"));
            }
            parameters.push((name, parameter));
            rest = remainder.trim_start();
            match rest.strip_prefix(';') {
                Some(r) => rest = r,
                None if rest.is_empty() => break,
                None => return Err(bad("text after a parameter")),
            }
        }
        Ok(Self { essence, parameters })
    }

    fn parameter(&self, name: &str) -> Option<&str> {
        self.parameters.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// RFC 2045 token: printable ASCII except space and tspecials.
fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?=".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> As4Limits {
        As4Limits::default()
    }

    #[test]
    fn round_trips_envelope_and_attachment() {
        let payload = b"\r\n--not-the-boundary\r\nbinary\x00\xff".to_vec();
        let packed = pack(
            b"<env/>",
            &[OutboundPart { content_id: "message", content_type: "application/octet-stream", content: &payload }],
        )
        .unwrap();
        let unpacked = unpack(&packed.content_type, packed.body, &limits()).unwrap();
        assert_eq!(unpacked.envelope, b"<env/>");
        assert_eq!(unpacked.attachments.len(), 1);
        assert_eq!(unpacked.attachments[0].content_id, "message");
        assert_eq!(unpacked.attachments[0].content_type, "application/octet-stream");
        assert_eq!(unpacked.attachments[0].content, payload);
    }

    #[test]
    fn parses_content_type_parameters() {
        let m = MediaType::parse("Multipart/Related; type=\"application/soap+xml\"; boundary=\"a\\\"b\"; start=<x@y>")
            .unwrap();
        assert_eq!(m.essence, "multipart/related");
        assert_eq!(m.parameter("boundary"), Some("a\"b"));
        assert_eq!(m.parameter("start"), Some("<x@y>"));
        for bad in ["", "text", "a/b; x", "a/b; x=\"open", "a/b; x=1; x=2", "a/b c"] {
            assert!(MediaType::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn refuses_malformed_multipart() {
        let ct = "multipart/related; boundary=b; type=\"application/soap+xml\"";
        let cases: [&[u8]; 5] = [
            b"no delimiter at all",
            b"--b\r\nContent-Type: application/soap+xml\r\n\r\n<e/>",
            b"--b\r\nContent-Type: application/soap+xml\r\nContent-Transfer-Encoding: base64\r\n\r\nPGUvPg==\r\n--b--",
            b"--b\r\nContent-Type: text/plain\r\n\r\n<e/>\r\n--b--",
            b"--bX\r\n\r\n--b--",
        ];
        for body in cases {
            assert!(unpack(ct, body.to_vec(), &limits()).is_err(), "{}", String::from_utf8_lossy(body));
        }
        let ok =
            b"preamble\r\n--b\r\nContent-Type: application/soap+xml; charset=UTF-8\r\n\r\n<e/>\r\n--b--\r\nepilogue";
        assert_eq!(unpack(ct, ok.to_vec(), &limits()).unwrap().envelope, b"<e/>");
    }

    #[test]
    fn caps_parts_and_sizes() {
        let small = As4Limits { max_message_bytes: 10, ..limits() };
        assert!(matches!(unpack(SOAP_MEDIA_TYPE, vec![b' '; 11], &small), Err(PackagingError::TooLarge { .. })));
        let ct = "multipart/related; boundary=b";
        let mut body = Vec::new();
        for i in 0..limits().max_parts + 1 {
            body.extend_from_slice(
                format!("--b\r\nContent-Type: application/soap+xml\r\nContent-ID: <{i}>\r\n\r\nx\r\n").as_bytes(),
            );
        }
        body.extend_from_slice(b"--b--");
        assert!(matches!(unpack(ct, body, &limits()), Err(PackagingError::TooManyParts(_))));
    }
}
