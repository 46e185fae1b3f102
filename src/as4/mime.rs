//! SOAP 1.2 with attachments: `multipart/related` (RFC 2387) with the SOAP
//! envelope as the start part (`application/soap+xml`) and the payload as a
//! binary part named by its Content-ID (`cid:` in the ebMS header).
//!
//! Reading is bounded and complete before anything is interpreted: the body
//! size is checked first, then the content type, then every part's headers
//! under caps; the envelope part has its own, small cap. Only binary
//! transfer encoding (or none) is accepted: what eDelivery AS4
//! implementations send, and no decoding step to get wrong.
//!
//! Bodies of 100 MB and more are never held in memory: a received body is a
//! [`Blob`] whose delimiters are found by reading it once in chunks, and
//! whose attachments are handed out as views of it; a body to send is a
//! [`PackedBody`], a list of blobs read one after the other.

use std::io::{self, Read};
use std::ops::Range;

use uuid::Uuid;

use super::error::{As4Error, LocalError, PackagingError};
use super::As4Limits;
use crate::spool::{Blob, BlobReader, IO_BUFFER};

/// The SOAP 1.2 media type (RFC 3902).
pub const SOAP_MEDIA_TYPE: &str = "application/soap+xml";
/// The `Content-Type` of a bare envelope (signals).
pub const ENVELOPE_CONTENT_TYPE: &str = "application/soap+xml; charset=UTF-8";
const MULTIPART_RELATED: &str = "multipart/related";

/// Longest `Content-Type` value read, and most parameters in it.
const MAX_CONTENT_TYPE_CHARS: usize = 1024;
const MAX_PARAMETERS: usize = 16;
/// Most header fields in one part.
const MAX_PART_HEADERS: usize = 16;
/// Most transport padding (spaces and tabs, RFC 2046 §5.1.1) read after a
/// boundary delimiter.
const MAX_TRANSPORT_PADDING: usize = 256;

/// A part to send.
#[derive(Debug, Clone, Copy)]
pub struct OutboundPart<'a> {
    /// Without angle brackets or `cid:`.
    pub content_id: &'a str,
    pub content_type: &'a str,
    pub content: &'a Blob,
}

/// A message ready for HTTP: the `Content-Type` header and the body.
#[derive(Debug, Clone)]
pub struct Packed {
    pub content_type: String,
    pub body: PackedBody,
}

/// A body to send: pieces (MIME framing, the envelope, attachments) read
/// one after the other, of a known total length. Cheap to clone: the
/// pieces are [`Blob`]s.
#[derive(Debug, Clone, Default)]
pub struct PackedBody {
    pieces: Vec<Blob>,
    len: u64,
}

impl PackedBody {
    fn push(&mut self, piece: Blob) {
        if !piece.is_empty() {
            self.len += piece.len();
            self.pieces.push(piece);
        }
    }

    /// The total length, for `Content-Length`.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn pieces(&self) -> &[Blob] {
        &self.pieces
    }

    /// Reads the whole body, piece after piece; files are opened as they
    /// are reached. `'static`, for a reading task.
    pub fn reader(&self) -> PackedReader {
        PackedReader { pieces: self.pieces.clone().into_iter(), current: None }
    }

    /// The body in memory, for small bodies and tests; refused above `max`.
    pub fn to_vec(&self, max: u64) -> io::Result<Vec<u8>> {
        if self.len > max {
            return Err(io::Error::new(io::ErrorKind::FileTooLarge, crate::spool::TooLarge { limit: max }));
        }
        let mut out = Vec::with_capacity(self.len as usize);
        self.reader().read_to_end(&mut out)?;
        Ok(out)
    }
}

impl From<Blob> for PackedBody {
    fn from(blob: Blob) -> PackedBody {
        let mut body = PackedBody::default();
        body.push(blob);
        body
    }
}

impl From<Vec<u8>> for PackedBody {
    fn from(bytes: Vec<u8>) -> PackedBody {
        PackedBody::from(Blob::from(bytes))
    }
}

/// Reader over a [`PackedBody`].
pub struct PackedReader {
    pieces: std::vec::IntoIter<Blob>,
    current: Option<BlobReader>,
}

impl Read for PackedReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if let Some(reader) = &mut self.current {
                let n = reader.read(buf)?;
                if n > 0 {
                    return Ok(n);
                }
            }
            match self.pieces.next() {
                Some(piece) => self.current = Some(piece.reader()?),
                None => return Ok(0),
            }
        }
    }
}

/// A received attachment part.
#[derive(Debug, Clone)]
pub struct Attachment {
    /// Without angle brackets.
    pub content_id: String,
    /// Media type only, lower case, without parameters.
    pub content_type: String,
    /// A view of the received body: nothing is copied.
    pub content: Blob,
}

/// A received message split into its envelope and attachments.
#[derive(Debug, Clone)]
pub struct Unpacked {
    pub envelope: Vec<u8>,
    pub attachments: Vec<Attachment>,
}

/// A bare SOAP envelope (signals): `application/soap+xml; charset=UTF-8`.
pub fn pack_envelope(envelope: Vec<u8>) -> Packed {
    Packed { content_type: ENVELOPE_CONTENT_TYPE.to_owned(), body: PackedBody::from(envelope) }
}

/// A boundary of 128 random bits.
fn random_boundary() -> Result<String, LocalError> {
    let mut random = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut random)
        .map_err(|_| LocalError::Build("the system random number generator failed".into()))?;
    Ok(format!("MIMEBoundary_{}", random.iter().map(|b| format!("{b:02x}")).collect::<String>()))
}

/// `multipart/related` with `envelope` as the start part and `attachments`
/// after it, all with binary transfer encoding. The attachments are not
/// copied: the body refers to their blobs.
pub fn pack(envelope: &[u8], attachments: &[OutboundPart<'_>]) -> Result<Packed, LocalError> {
    let start = format!("{}@brygga", Uuid::new_v4().simple());
    // The boundary is not searched for in the parts, which would mean reading
    // a payload of 100 MB once more: 128 random bits, drawn after the parts
    // were made, occur in n bytes of content with a probability below
    // n / 2^128 (as in CXF, WSS4J-based and .NET AS4 stacks, which do not
    // check either). The payload part is AES-GCM ciphertext besides.
    let boundary = random_boundary()?;
    for id in attachments.iter().map(|p| p.content_id).chain([start.as_str()]) {
        if id.is_empty() || id.bytes().any(|b| b.is_ascii_control() || matches!(b, b'<' | b'>' | b' ')) {
            return Err(LocalError::Build(format!("'{id}' cannot be a Content-ID")));
        }
    }

    let mut body = PackedBody::default();
    let mut text = Vec::with_capacity(envelope.len() + 512);
    let part_headers = |text: &mut Vec<u8>, content_type: &str, content_id: &str| {
        text.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        text.extend_from_slice(format!("Content-Type: {content_type}\r\n").as_bytes());
        text.extend_from_slice(b"Content-Transfer-Encoding: binary\r\n");
        text.extend_from_slice(format!("Content-ID: <{content_id}>\r\n\r\n").as_bytes());
    };
    part_headers(&mut text, ENVELOPE_CONTENT_TYPE, &start);
    text.extend_from_slice(envelope);
    text.extend_from_slice(b"\r\n");
    for p in attachments {
        part_headers(&mut text, p.content_type, p.content_id);
        body.push(Blob::from(std::mem::take(&mut text)));
        body.push(p.content.clone());
        text.extend_from_slice(b"\r\n");
    }
    text.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    body.push(Blob::from(text));
    let content_type =
        format!("{MULTIPART_RELATED}; boundary=\"{boundary}\"; type=\"{SOAP_MEDIA_TYPE}\"; start=\"<{start}>\"");
    Ok(Packed { content_type, body })
}

/// Reads a received HTTP body under `limits`: a bare SOAP 1.2 envelope, or
/// `multipart/related` with a SOAP 1.2 start part. The body is read once,
/// in chunks, to find the delimiters; the envelope is loaded (it is small
/// and capped), the attachments are views of `body`.
pub fn unpack(content_type: &str, body: Blob, limits: &As4Limits) -> Result<Unpacked, As4Error> {
    unpack_in_chunks(content_type, body, limits, IO_BUFFER)
}

fn storage(error: io::Error) -> As4Error {
    LocalError::storage(error).into()
}

/// [`unpack`] reading the body `chunk` bytes at a time (small in tests, to
/// put delimiters across chunk edges).
fn unpack_in_chunks(content_type: &str, body: Blob, limits: &As4Limits, chunk: usize) -> Result<Unpacked, As4Error> {
    let size = usize::try_from(body.len()).unwrap_or(usize::MAX);
    if size > limits.max_message_bytes {
        return Err(PackagingError::TooLarge { size, limit: limits.max_message_bytes }.into());
    }
    let media = MediaType::parse(content_type)?;
    if media.essence == SOAP_MEDIA_TYPE {
        check_envelope_size(size, limits)?;
        let envelope = body.to_vec(u64::MAX).map_err(storage)?;
        return Ok(Unpacked { envelope, attachments: Vec::new() });
    }
    if media.essence == "text/xml" {
        return Err(
            PackagingError::ContentType("SOAP 1.1 (text/xml) is not supported; AS4 uses SOAP 1.2".into()).into()
        );
    }
    if media.essence != MULTIPART_RELATED {
        return Err(PackagingError::ContentType(format!("'{}' is not multipart/related", media.essence)).into());
    }
    if media.parameter("type").is_some_and(|t| !t.eq_ignore_ascii_case(SOAP_MEDIA_TYPE)) {
        return Err(PackagingError::ContentType("the related type is not application/soap+xml".into()).into());
    }
    let boundary = media.parameter("boundary").ok_or_else(|| PackagingError::ContentType("no boundary".into()))?;
    if boundary.is_empty() || boundary.len() > 70 {
        return Err(PackagingError::ContentType("boundary must be 1 to 70 characters (RFC 2046)".into()).into());
    }
    let start = media.parameter("start").map(|s| strip_angle_brackets(s).to_owned());

    let parts = split_parts(&body, boundary.as_bytes(), limits.max_parts, chunk)?;
    let mut headers = Vec::with_capacity(parts.len());
    for range in &parts {
        let part_len = range.end - range.start;
        let prefix_len = part_len.min(limits.max_part_header_bytes as u64 + 4);
        let prefix = read_range(&body, range.start, prefix_len)?;
        headers.push(PartHeaders::parse(&prefix, prefix_len < part_len, limits.max_part_header_bytes)?);
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
        return Err(PackagingError::Malformed(format!("the start part is '{root_type}', not {SOAP_MEDIA_TYPE}")).into());
    }
    let mut content_ids: Vec<&str> = Vec::new();
    for (i, h) in headers.iter().enumerate() {
        let id = h.content_id.as_deref().unwrap_or("");
        if i != root_index && id.is_empty() {
            return Err(PackagingError::Attachment("a part has no Content-ID".into()).into());
        }
        if !id.is_empty() && content_ids.contains(&id) {
            return Err(PackagingError::Attachment(format!("Content-ID '{id}' is used twice")).into());
        }
        content_ids.push(id);
    }

    let content = |i: usize| parts[i].start + headers[i].length as u64..parts[i].end;
    let root = content(root_index);
    check_envelope_size(usize::try_from(root.end - root.start).unwrap_or(usize::MAX), limits)?;
    let envelope = read_range(&body, root.start, root.end - root.start)?;
    let mut attachments = Vec::with_capacity(parts.len() - 1);
    for i in (0..parts.len()).filter(|&i| i != root_index) {
        let range = content(i);
        attachments.push(Attachment {
            content_id: headers[i].content_id.clone().unwrap_or_default(),
            content_type: headers[i].content_type.clone().unwrap_or_else(|| "application/octet-stream".into()),
            content: body.sub_range(range.start, range.end - range.start).map_err(storage)?,
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

/// `len` bytes of `body` from `offset` (callers keep `len` small).
fn read_range(body: &Blob, offset: u64, len: u64) -> Result<Vec<u8>, As4Error> {
    let mut out = Vec::with_capacity(len as usize);
    body.range(offset, len).and_then(|mut r| r.read_to_end(&mut out)).map_err(storage)?;
    Ok(out)
}

/// Byte ranges of the parts (headers and content) between the delimiters.
/// The body is read once, front to back, up to the close delimiter.
fn split_parts(body: &Blob, boundary: &[u8], max_parts: usize, chunk: usize) -> Result<Vec<Range<u64>>, As4Error> {
    let mut delimiter = b"\r\n--".to_vec();
    delimiter.extend_from_slice(boundary);
    let mut scanner = Scanner::new(body.reader().map_err(storage)?, &delimiter, chunk);
    // The first delimiter may open the body, without the CRLF before it.
    let opening_len = (delimiter.len() as u64 - 2).min(body.len());
    let mut at = if read_range(body, 0, opening_len)? == delimiter[2..] {
        0
    } else {
        scanner.find(0).map_err(storage)?.ok_or_else(|| PackagingError::Malformed("no boundary delimiter".into()))? + 2
    };
    let mut parts = Vec::new();
    loop {
        let mut pos = at + delimiter.len() as u64 - 2;
        let after = read_range(body, pos, (MAX_TRANSPORT_PADDING as u64 + 2).min(body.len() - pos))?;
        if after.starts_with(b"--") {
            break; // close delimiter; the epilogue is not read
        }
        let padding = after.iter().take_while(|&&b| matches!(b, b' ' | b'\t')).count();
        if !after[padding..].starts_with(b"\r\n") {
            return Err(PackagingError::Malformed("boundary delimiter not followed by CRLF".into()).into());
        }
        pos += padding as u64 + 2;
        if parts.len() == max_parts {
            return Err(PackagingError::TooManyParts(max_parts).into());
        }
        let end = scanner
            .find(pos)
            .map_err(storage)?
            .ok_or_else(|| PackagingError::Malformed("the last part is not closed by a boundary".into()))?;
        parts.push(pos..end);
        at = end + 2;
    }
    if parts.is_empty() {
        return Err(PackagingError::Malformed("no parts".into()).into());
    }
    Ok(parts)
}

/// Finds a needle in a reader, front to back, holding one chunk and the
/// `needle.len() - 1` bytes before it (a needle may straddle two chunks).
struct Scanner<'n, R> {
    reader: R,
    needle: &'n [u8],
    chunk: usize,
    /// Bytes of the input from `buf_start` on.
    buf: Vec<u8>,
    buf_start: u64,
    eof: bool,
}

impl<'n, R: Read> Scanner<'n, R> {
    fn new(reader: R, needle: &'n [u8], chunk: usize) -> Self {
        assert!(!needle.is_empty() && chunk > 0);
        Self { reader, needle, chunk, buf: Vec::with_capacity(chunk + needle.len()), buf_start: 0, eof: false }
    }

    /// Where the needle first occurs at or after `from`. Calls must not go
    /// back: `from` is past the previous answer.
    fn find(&mut self, from: u64) -> io::Result<Option<u64>> {
        loop {
            // Nothing before `from` is needed any more.
            let drop = from.saturating_sub(self.buf_start).min(self.buf.len() as u64) as usize;
            self.buf.drain(..drop);
            self.buf_start += drop as u64;
            if from <= self.buf_start {
                if let Some(at) = find(&self.buf, self.needle, 0) {
                    return Ok(Some(self.buf_start + at as u64));
                }
            }
            if self.eof {
                return Ok(None);
            }
            // Keep the tail that may begin a match; read the next chunk.
            let keep = self.buf.len().min(self.needle.len() - 1);
            let drop = self.buf.len() - keep;
            self.buf.drain(..drop);
            self.buf_start += drop as u64;
            let filled = self.buf.len();
            self.buf.resize(filled + self.chunk, 0);
            let n = loop {
                match self.reader.read(&mut self.buf[filled..]) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    other => break other,
                }
            };
            let n = match n {
                Ok(n) => n,
                Err(e) => {
                    self.buf.truncate(filled);
                    return Err(e);
                }
            };
            self.buf.truncate(filled + n);
            self.eof = n == 0;
        }
    }
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
    /// Parses the headers at the start of `prefix`, the first bytes of a
    /// part (up to `max_bytes` + 4); `truncated` when the part goes on.
    fn parse(prefix: &[u8], truncated: bool, max_bytes: usize) -> Result<Self, PackagingError> {
        let end = if prefix.starts_with(b"\r\n") {
            0
        } else {
            let limit = prefix.len().min(max_bytes + 4);
            match find(&prefix[..limit], b"\r\n\r\n", 0) {
                Some(at) => at + 2,
                None if truncated || limit < prefix.len() => return Err(PackagingError::HeadersTooLarge(max_bytes)),
                None => return Err(PackagingError::Malformed("part headers do not end in a blank line".into())),
            }
        };
        let block = std::str::from_utf8(&prefix[..end])
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
    use crate::spool::Spool;

    fn limits() -> As4Limits {
        As4Limits::default()
    }

    fn blob(bytes: &[u8]) -> Blob {
        Blob::from(bytes)
    }

    /// A spool that puts everything in files.
    fn file_spool() -> (tempfile::TempDir, Spool) {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::new(dir.path().join("spool")).unwrap().with_memory_threshold(0);
        (dir, spool)
    }

    fn packaging(result: Result<Unpacked, As4Error>) -> PackagingError {
        match result {
            Err(As4Error::Packaging(e)) => e,
            other => panic!("expected a packaging error, got {other:?}"),
        }
    }

    #[test]
    fn round_trips_envelope_and_attachment() {
        let payload = b"\r\n--not-the-boundary\r\nbinary\x00\xff".to_vec();
        let content = Blob::from(payload.clone());
        let packed = pack(
            b"<env/>",
            &[OutboundPart { content_id: "message", content_type: "application/octet-stream", content: &content }],
        )
        .unwrap();
        let body = packed.body.to_vec(u64::MAX).unwrap();
        assert_eq!(body.len() as u64, packed.body.len());
        let unpacked = unpack(&packed.content_type, Blob::from(body), &limits()).unwrap();
        assert_eq!(unpacked.envelope, b"<env/>");
        assert_eq!(unpacked.attachments.len(), 1);
        assert_eq!(unpacked.attachments[0].content_id, "message");
        assert_eq!(unpacked.attachments[0].content_type, "application/octet-stream");
        assert_eq!(unpacked.attachments[0].content.to_vec(u64::MAX).unwrap(), payload);
    }

    #[test]
    fn boundaries_are_random_and_long_enough() {
        let a = random_boundary().unwrap();
        assert_ne!(a, random_boundary().unwrap());
        assert_eq!(a.len(), "MIMEBoundary_".len() + 32);
        assert!(a.len() <= 70);
    }

    /// Every chunk size from 1 byte up puts each delimiter, and the close
    /// delimiter, across a chunk edge somewhere, in memory and on disk.
    #[test]
    fn delimiters_are_found_across_chunk_edges() {
        let (_dir, spool) = file_spool();
        let payload: Vec<u8> = (0..3000u32).map(|i| (i * 7 % 256) as u8).collect();
        let content = spool.copy_from(&mut &payload[..], u64::MAX).unwrap();
        let second = Blob::from(&b"\r\n-\r\n--MIMEBoundary\r\n"[..]);
        let packed = pack(
            b"<env>\r\n--</env>",
            &[
                OutboundPart { content_id: "message", content_type: "application/octet-stream", content: &content },
                OutboundPart { content_id: "second", content_type: "text/plain", content: &second },
            ],
        )
        .unwrap();
        let bytes = packed.body.to_vec(u64::MAX).unwrap();
        let on_disk = spool.copy_from(&mut &bytes[..], u64::MAX).unwrap();
        assert!(on_disk.path().is_some());
        for body in [Blob::from(bytes.clone()), on_disk] {
            for chunk in (1..80).chain([127, 128, 129, 1000, 3001, 4096, 1 << 16]) {
                let unpacked = unpack_in_chunks(&packed.content_type, body.clone(), &limits(), chunk).unwrap();
                assert_eq!(unpacked.envelope, b"<env>\r\n--</env>", "chunk {chunk}");
                assert_eq!(unpacked.attachments.len(), 2);
                assert_eq!(unpacked.attachments[0].content.to_vec(u64::MAX).unwrap(), payload, "chunk {chunk}");
                assert_eq!(unpacked.attachments[1].content_id, "second");
                assert_eq!(unpacked.attachments[1].content.to_vec(100).unwrap(), b"\r\n-\r\n--MIMEBoundary\r\n");
            }
        }
    }

    #[test]
    fn a_needle_straddling_chunks_is_found_at_every_offset() {
        let needle = b"\r\n--abc";
        for at in 0..40usize {
            let mut hay = vec![b'x'; 40];
            hay.extend_from_slice(b"\r\n--ab"); // a near miss first
            hay[at..at + 3].copy_from_slice(b"\r\n-");
            hay.extend_from_slice(needle);
            hay.extend_from_slice(b"tail");
            let expected = find(&hay, needle, 0).unwrap();
            for chunk in 1..20 {
                let mut scanner = Scanner::new(&hay[..], needle, chunk);
                assert_eq!(scanner.find(0).unwrap(), Some(expected as u64), "at {at} chunk {chunk}");
                assert_eq!(scanner.find(expected as u64 + 1).unwrap(), None);
            }
        }
        // `from` beyond what was read skips ahead.
        let hay = b"\r\n--abc.....\r\n--abc";
        let mut scanner = Scanner::new(&hay[..], needle, 3);
        assert_eq!(scanner.find(1).unwrap(), Some(12));
    }

    #[test]
    fn a_large_file_backed_attachment_round_trips_as_a_view() {
        let (_dir, spool) = file_spool();
        let mut writer = spool.writer(u64::MAX);
        let mut state = 0x2545_f491_u32;
        let mut expected = ring::digest::Context::new(&ring::digest::SHA256);
        for _ in 0..(8 * 1024 * 1024 / 4096) {
            let block: Vec<u8> = (0..4096)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 17;
                    state ^= state << 5;
                    state as u8
                })
                .collect();
            expected.update(&block);
            std::io::Write::write_all(&mut writer, &block).unwrap();
        }
        let content = writer.finish().unwrap();
        let packed = pack(
            b"<env/>",
            &[OutboundPart { content_id: "message", content_type: "application/octet-stream", content: &content }],
        )
        .unwrap();
        assert_eq!(packed.body.len(), content.len() + packed.body.pieces()[0].len() + packed.body.pieces()[2].len());
        // The body as the receiver spools it: one file.
        let body = spool.copy_from(&mut packed.body.reader(), u64::MAX).unwrap();
        let files = std::fs::read_dir(spool.dir()).unwrap().count();
        let unpacked = unpack(&packed.content_type, body, &limits()).unwrap();
        assert_eq!(std::fs::read_dir(spool.dir()).unwrap().count(), files, "the attachment is not copied");
        let attachment = &unpacked.attachments[0].content;
        assert_eq!(attachment.len(), 8 * 1024 * 1024);
        let mut actual = ring::digest::Context::new(&ring::digest::SHA256);
        attachment.for_each_chunk(|c| actual.update(c)).unwrap();
        assert_eq!(actual.finish().as_ref(), expected.finish().as_ref());
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
        let cases: [&[u8]; 7] = [
            b"no delimiter at all",
            b"--b\r\nContent-Type: application/soap+xml\r\n\r\n<e/>",
            b"--b\r\nContent-Type: application/soap+xml\r\nContent-Transfer-Encoding: base64\r\n\r\nPGUvPg==\r\n--b--",
            b"--b\r\nContent-Type: text/plain\r\n\r\n<e/>\r\n--b--",
            b"--bX\r\n\r\n--b--",
            b"--b",
            b"--b--",
        ];
        for body in cases {
            for chunk in [1, 3, IO_BUFFER] {
                let result = unpack_in_chunks(ct, blob(body), &limits(), chunk);
                assert!(result.is_err(), "{}", String::from_utf8_lossy(body));
            }
        }
        let ok =
            b"preamble\r\n--b\r\nContent-Type: application/soap+xml; charset=UTF-8\r\n\r\n<e/>\r\n--b--\r\nepilogue";
        for chunk in [1, 2, 5, IO_BUFFER] {
            assert_eq!(unpack_in_chunks(ct, blob(ok), &limits(), chunk).unwrap().envelope, b"<e/>");
        }
        // Transport padding after a delimiter is allowed, up to a bound.
        let padded = b"--b \t \r\nContent-Type: application/soap+xml\r\n\r\n<e/>\r\n--b--";
        assert_eq!(unpack(ct, blob(padded), &limits()).unwrap().envelope, b"<e/>");
        let mut too_padded = b"--b".to_vec();
        too_padded.extend_from_slice(&[b' '; MAX_TRANSPORT_PADDING + 1]);
        too_padded.extend_from_slice(b"\r\nContent-Type: application/soap+xml\r\n\r\n<e/>\r\n--b--");
        assert!(matches!(packaging(unpack(ct, blob(&too_padded), &limits())), PackagingError::Malformed(_)));
    }

    #[test]
    fn caps_parts_and_sizes() {
        let small = As4Limits { max_message_bytes: 10, ..limits() };
        assert!(matches!(
            packaging(unpack(SOAP_MEDIA_TYPE, blob(&[b' '; 11]), &small)),
            PackagingError::TooLarge { .. }
        ));
        let ct = "multipart/related; boundary=b";
        let mut body = Vec::new();
        for i in 0..limits().max_parts + 1 {
            body.extend_from_slice(
                format!("--b\r\nContent-Type: application/soap+xml\r\nContent-ID: <{i}>\r\n\r\nx\r\n").as_bytes(),
            );
        }
        body.extend_from_slice(b"--b--");
        assert!(matches!(packaging(unpack(ct, Blob::from(body), &limits())), PackagingError::TooManyParts(_)));

        // Part headers over the cap, whether the part goes on or not.
        let tight = As4Limits { max_part_header_bytes: 64, ..limits() };
        let long =
            format!("--b\r\nContent-Type: application/soap+xml\r\nX-Long: {}\r\n\r\n<e/>\r\n--b--", "x".repeat(100));
        assert!(matches!(packaging(unpack(ct, blob(long.as_bytes()), &tight)), PackagingError::HeadersTooLarge(_)));
        // The envelope part has its own cap.
        let envelope_cap = As4Limits { max_envelope_bytes: 3, ..limits() };
        let ok = b"--b\r\nContent-Type: application/soap+xml\r\n\r\n<e/>\r\n--b--";
        assert!(matches!(
            packaging(unpack(ct, blob(ok), &envelope_cap)),
            PackagingError::EnvelopeTooLarge { size: 4, limit: 3 }
        ));
    }
}
