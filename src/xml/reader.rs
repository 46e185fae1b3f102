//! The one bounded XML reader. Every document Brygga reads goes through
//! [`parse`]: size is checked before parsing, depth, attribute and node counts
//! while parsing, and DOCTYPE (so entity declarations and external entities)
//! is refused outright.
//!
//! quick-xml tokenises; this module does what it leaves to its callers:
//! end-of-line and attribute-value normalisation, reference expansion (only
//! the five predefined entities and character references exist here),
//! namespace resolution and well-formedness checks on names and characters.

use std::io::Read;
use std::sync::Arc;

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use super::large_text;
use super::tree::{Attribute, Document, Element, NodeId, NodeKind, NsDecl, Pi, XML_NS};
use crate::limits::XmlLimits;
use crate::spool::{Blob, Spool};

const XMLNS_NS: &str = "http://www.w3.org/2000/xmlns/";

/// Why a document was refused. Positions are byte offsets into the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    #[error("document is {size} bytes, over the limit of {limit}")]
    TooLarge { size: usize, limit: usize },
    #[error("elements nested deeper than {limit}")]
    TooDeep { limit: usize },
    #[error("an element has more than {limit} attributes")]
    TooManyAttributes { limit: usize },
    #[error("document has more than {limit} nodes")]
    TooManyNodes { limit: usize },
    #[error("a name is longer than {limit} bytes")]
    NameTooLong { limit: usize },
    #[error("DOCTYPE declarations are not accepted (no DTDs, no entity declarations)")]
    DoctypeRefused,
    #[error("reference to undefined entity '&{0};'")]
    UndefinedEntity(String),
    #[error("document is not valid UTF-8 (at byte {offset})")]
    InvalidUtf8 { offset: usize },
    #[error("character not allowed in XML at byte {offset}")]
    InvalidChar { offset: usize },
    #[error("only UTF-8 documents are accepted, not '{0}'")]
    UnsupportedEncoding(String),
    #[error("namespace prefix '{0}' is not declared")]
    UnboundPrefix(String),
    #[error("attribute '{0}' appears twice")]
    DuplicateAttribute(String),
    #[error("invalid namespace declaration: {0}")]
    BadNamespaceDeclaration(String),
    #[error("document has no root element")]
    NoRootElement,
    #[error("malformed XML at byte {offset}: {reason}")]
    Malformed { offset: usize, reason: String },
}

/// Parses `input` into a [`Document`] under `limits`.
pub fn parse(input: &[u8], limits: &XmlLimits) -> Result<Document, XmlError> {
    if input.len() > limits.max_document_bytes {
        return Err(XmlError::TooLarge { size: input.len(), limit: limits.max_document_bytes });
    }
    let input = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
    let text = std::str::from_utf8(input).map_err(|e| XmlError::InvalidUtf8 { offset: e.valid_up_to() })?;
    check_chars(input)?;
    Builder::new(limits).run(text)
}

/// Parses a document that may be large: character data runs longer than
/// the spool's memory threshold that are base64 (encrypted payloads,
/// attachments) stay on disk as [`NodeKind::LargeText`] nodes, so the tree
/// costs memory for the markup only. Small in-memory input takes the
/// ordinary path.
pub fn parse_blob(input: &Blob, limits: &XmlLimits, spool: &Spool) -> Result<Document, XmlError> {
    if let Some(bytes) = input.as_memory() {
        if bytes.len() <= spool.memory_threshold() {
            return parse(bytes, limits);
        }
    }
    let reader = input.reader().map_err(unreadable)?;
    parse_stream(reader, input.len(), limits, spool)
}

/// [`parse_blob`] for a document of `len` bytes read from `input`.
pub fn parse_stream(input: impl Read, len: u64, limits: &XmlLimits, spool: &Spool) -> Result<Document, XmlError> {
    if len > limits.max_document_bytes as u64 {
        return Err(XmlError::TooLarge { size: usize::try_from(len).unwrap_or(usize::MAX), limit: limits.max_document_bytes });
    }
    let threshold = spool.memory_threshold();
    if len <= threshold as u64 {
        let mut bytes = Vec::with_capacity(len as usize);
        input.take(len).read_to_end(&mut bytes).map_err(unreadable)?;
        return parse(&bytes, limits);
    }
    let split = large_text::split(input.take(len), spool, threshold.max(MIN_LARGE_TEXT)).map_err(unreadable)?;
    let skeleton = split.skeleton.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&split.skeleton);
    let text = std::str::from_utf8(skeleton).map_err(|e| XmlError::InvalidUtf8 { offset: e.valid_up_to() })?;
    check_chars(skeleton)?;
    let mut builder = Builder::new(limits);
    builder.large = Some((split.placeholder_target, split.runs.into_iter().map(Some).collect()));
    builder.run(text)
}

fn unreadable(e: std::io::Error) -> XmlError {
    XmlError::Malformed { offset: 0, reason: format!("reading the document: {e}") }
}

/// Runs shorter than this stay inline even with a spool that keeps nothing
/// in memory: a placeholder costs more than a short text.
const MIN_LARGE_TEXT: usize = 4096;

/// Parses a string (already UTF-8) under the default limits. For documents
/// Brygga builds itself.
pub fn parse_str(text: &str) -> Result<Document, XmlError> {
    parse(text.as_bytes(), &XmlLimits::default())
}

/// XML 1.0 §2.2: no C0 control characters except TAB, LF and CR, and not
/// the noncharacters U+FFFE and U+FFFF (UTF-8 EF BF BE / EF BF BF).
fn check_chars(input: &[u8]) -> Result<(), XmlError> {
    let bad = input.iter().enumerate().position(|(i, &b)| {
        (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r'))
            || (b == 0xEF && input.get(i + 1) == Some(&0xBF) && matches!(input.get(i + 2), Some(0xBE | 0xBF)))
    });
    match bad {
        Some(offset) => Err(XmlError::InvalidChar { offset }),
        None => Ok(()),
    }
}

struct Builder<'l> {
    limits: &'l XmlLimits,
    doc: Document,
    /// Open elements, innermost last.
    open: Vec<NodeId>,
    /// In-scope namespace bindings, innermost last; `frames` marks where each
    /// element's own declarations start.
    bindings: Vec<(Option<String>, Arc<str>)>,
    frames: Vec<usize>,
    /// Character data not yet turned into a text node.
    pending_text: String,
    seen_root: bool,
    seen_anything: bool,
    offset: usize,
    /// The placeholder target and the runs [`parse_blob`] took out; each
    /// run can be placed once.
    large: Option<(String, Vec<Option<large_text::LargeText>>)>,
}

impl<'l> Builder<'l> {
    fn new(limits: &'l XmlLimits) -> Self {
        Self {
            limits,
            doc: Document::new(),
            open: Vec::new(),
            bindings: Vec::new(),
            frames: Vec::new(),
            pending_text: String::new(),
            seen_root: false,
            seen_anything: false,
            offset: 0,
            large: None,
        }
    }

    fn run(mut self, text: &str) -> Result<Document, XmlError> {
        let mut reader = Reader::from_str(text);
        let config = reader.config_mut();
        config.check_end_names = true;
        config.check_comments = true;
        config.expand_empty_elements = false;
        config.trim_text(false);
        loop {
            self.offset = reader.buffer_position() as usize;
            let event = reader.read_event().map_err(|e| XmlError::Malformed {
                offset: reader.error_position() as usize,
                reason: e.to_string(),
            })?;
            let first = !self.seen_anything;
            self.seen_anything = true;
            match event {
                Event::Decl(decl) => {
                    if !first {
                        return Err(self.malformed("XML declaration not at the start"));
                    }
                    if let Some(enc) = decl.encoding() {
                        let enc = enc.map_err(|e| self.malformed(&e.to_string()))?;
                        let enc = String::from_utf8_lossy(&enc).to_string();
                        if !enc.eq_ignore_ascii_case("utf-8") && !enc.eq_ignore_ascii_case("utf8") {
                            return Err(XmlError::UnsupportedEncoding(enc));
                        }
                    }
                }
                Event::DocType(_) => return Err(XmlError::DoctypeRefused),
                Event::Start(start) => self.start(&start, false)?,
                Event::Empty(start) => self.start(&start, true)?,
                Event::End(_) => self.end()?,
                Event::Text(t) => {
                    let raw = utf8(&t)?;
                    if raw.contains("]]>") {
                        return Err(self.malformed("']]>' is not allowed in character data"));
                    }
                    if self.open.is_empty() {
                        if !raw.bytes().all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r')) {
                            return Err(self.malformed("text outside the root element"));
                        }
                    } else {
                        push_normalized_eol(&mut self.pending_text, raw);
                    }
                }
                Event::CData(t) => {
                    if self.open.is_empty() {
                        return Err(self.malformed("CDATA outside the root element"));
                    }
                    push_normalized_eol(&mut self.pending_text, utf8(&t)?);
                }
                Event::GeneralRef(r) => {
                    if self.open.is_empty() {
                        return Err(self.malformed("reference outside the root element"));
                    }
                    let c = resolve_reference(utf8(&r)?)?;
                    self.pending_text.push(c);
                }
                Event::Comment(t) => {
                    let mut s = String::new();
                    push_normalized_eol(&mut s, utf8(&t)?);
                    self.leaf(NodeKind::Comment(s))?;
                }
                Event::PI(pi) => {
                    let target = utf8(pi.target())?.to_owned();
                    if let Some(run) = self.take_large_text(&target, utf8(pi.content())?)? {
                        if self.open.is_empty() {
                            return Err(self.malformed("text outside the root element"));
                        }
                        self.leaf(NodeKind::LargeText(run))?;
                        continue;
                    }
                    if target.eq_ignore_ascii_case("xml") {
                        return Err(self.malformed("processing instruction target 'xml' is reserved"));
                    }
                    check_name(&target, self.limits).map_err(|r| self.malformed(r))?;
                    let mut data = String::new();
                    push_normalized_eol(&mut data, utf8(pi.content())?.trim_start_matches([' ', '\t', '\r', '\n']));
                    self.leaf(NodeKind::Pi(Pi { target, data }))?;
                }
                Event::Eof => break,
            }
        }
        if !self.open.is_empty() {
            return Err(self.malformed("document ends inside an element"));
        }
        if !self.seen_root {
            return Err(XmlError::NoRootElement);
        }
        Ok(self.doc)
    }

    /// The run a placeholder stands for, if `target` is the placeholder's.
    fn take_large_text(&mut self, target: &str, content: &str) -> Result<Option<large_text::LargeText>, XmlError> {
        let Some((placeholder, runs)) = &mut self.large else { return Ok(None) };
        if target != placeholder.as_str() {
            return Ok(None);
        }
        let run = content.trim().parse::<usize>().ok().and_then(|i| runs.get_mut(i)).and_then(Option::take);
        run.map(Some).ok_or_else(|| self.malformed("misplaced large-text placeholder"))
    }

    fn malformed(&self, reason: &str) -> XmlError {
        XmlError::Malformed { offset: self.offset, reason: reason.to_owned() }
    }

    fn parent(&self) -> NodeId {
        self.open.last().copied().unwrap_or(NodeId::DOCUMENT)
    }

    fn count_node(&self) -> Result<(), XmlError> {
        if self.doc.node_count() >= self.limits.max_nodes {
            return Err(XmlError::TooManyNodes { limit: self.limits.max_nodes });
        }
        Ok(())
    }

    fn flush_text(&mut self) -> Result<(), XmlError> {
        if !self.pending_text.is_empty() {
            self.count_node()?;
            let text = std::mem::take(&mut self.pending_text);
            self.doc.append(self.parent(), NodeKind::Text(text));
        }
        Ok(())
    }

    fn leaf(&mut self, kind: NodeKind) -> Result<(), XmlError> {
        self.flush_text()?;
        self.count_node()?;
        self.doc.append(self.parent(), kind);
        Ok(())
    }

    fn start(&mut self, start: &BytesStart<'_>, empty: bool) -> Result<(), XmlError> {
        self.flush_text()?;
        self.count_node()?;
        if self.open.is_empty() {
            if self.seen_root {
                return Err(self.malformed("more than one root element"));
            }
            self.seen_root = true;
        }
        if self.open.len() >= self.limits.max_depth {
            return Err(XmlError::TooDeep { limit: self.limits.max_depth });
        }
        let qname = utf8(start.name().into_inner())?;
        check_name(qname, self.limits).map_err(|r| self.malformed(r))?;
        let (prefix, local) = split_qname(qname).map_err(|r| self.malformed(r))?;

        let mut namespaces = Vec::new();
        let mut raw_attributes = Vec::new();
        for (count, attr) in start.attributes().with_checks(true).enumerate() {
            if count >= self.limits.max_attributes {
                return Err(XmlError::TooManyAttributes { limit: self.limits.max_attributes });
            }
            let attr = attr.map_err(|e| self.malformed(&e.to_string()))?;
            let key = utf8(attr.key.into_inner())?;
            check_name(key, self.limits).map_err(|r| self.malformed(r))?;
            let value = normalize_attribute_value(utf8(&attr.value)?)?;
            let (aprefix, alocal) = split_qname(key).map_err(|r| self.malformed(r))?;
            match (aprefix, alocal) {
                (None, "xmlns") => {
                    if value == XML_NS || value == XMLNS_NS {
                        return Err(XmlError::BadNamespaceDeclaration(format!("default namespace cannot be {value}")));
                    }
                    check_absolute(&value)?;
                    namespaces.push(NsDecl { prefix: None, uri: value });
                }
                (Some("xmlns"), p) => {
                    check_prefix_declaration(p, &value)?;
                    if p == "xml" {
                        // Declaring xml to its own namespace is allowed and meaningless;
                        // keeping it would make canonical output differ from libxml2.
                        continue;
                    }
                    namespaces.push(NsDecl { prefix: Some(p.to_owned()), uri: value });
                }
                (p, l) => raw_attributes.push((p.map(str::to_owned), l.to_owned(), value)),
            }
        }

        self.frames.push(self.bindings.len());
        for d in &namespaces {
            self.bindings.push((d.prefix.clone(), Arc::from(d.uri.as_str())));
        }
        let ns = match prefix {
            None => self.resolve(None),
            Some(p) => Some(self.resolve(Some(p)).ok_or_else(|| XmlError::UnboundPrefix(p.to_owned()))?),
        };
        let mut attributes: Vec<Attribute> = Vec::with_capacity(raw_attributes.len());
        for (aprefix, alocal, value) in raw_attributes {
            let ans = match &aprefix {
                None => None,
                Some(p) => Some(self.resolve(Some(p)).ok_or_else(|| XmlError::UnboundPrefix(p.clone()))?),
            };
            if attributes.iter().any(|a| a.local == alocal && a.ns == ans) {
                return Err(XmlError::DuplicateAttribute(alocal));
            }
            attributes.push(Attribute { prefix: aprefix, local: alocal, ns: ans, value });
        }
        let element = Element {
            prefix: prefix.map(str::to_owned),
            local: local.to_owned(),
            ns,
            namespaces,
            attributes,
        };
        let id = self.doc.append(self.parent(), NodeKind::Element(element));
        self.open.push(id);
        if empty {
            self.end()?;
        }
        Ok(())
    }

    fn end(&mut self) -> Result<(), XmlError> {
        // quick-xml has already checked that the end tag matches.
        self.flush_text()?;
        self.open.pop();
        if let Some(mark) = self.frames.pop() {
            self.bindings.truncate(mark);
        }
        Ok(())
    }

    /// Resolves a prefix against the bindings in scope; `None` for an
    /// undeclared or undeclared-again default namespace.
    fn resolve(&self, prefix: Option<&str>) -> Option<Arc<str>> {
        if prefix == Some("xml") {
            return Some(Arc::from(XML_NS));
        }
        self.bindings
            .iter()
            .rev()
            .find(|(p, _)| p.as_deref() == prefix)
            .and_then(|(_, uri)| if uri.is_empty() { None } else { Some(uri.clone()) })
    }
}

fn utf8(bytes: &[u8]) -> Result<&str, XmlError> {
    // The whole input was checked up front; this only fails on a quick-xml bug.
    std::str::from_utf8(bytes).map_err(|e| XmlError::InvalidUtf8 { offset: e.valid_up_to() })
}

fn check_prefix_declaration(prefix: &str, uri: &str) -> Result<(), XmlError> {
    if prefix == "xmlns" {
        return Err(XmlError::BadNamespaceDeclaration("the xmlns prefix cannot be declared".into()));
    }
    if prefix == "xml" && uri != XML_NS {
        return Err(XmlError::BadNamespaceDeclaration("the xml prefix cannot be rebound".into()));
    }
    if prefix != "xml" && (uri == XML_NS || uri == XMLNS_NS) {
        return Err(XmlError::BadNamespaceDeclaration(format!("prefix {prefix} cannot be bound to {uri}")));
    }
    if uri.is_empty() {
        return Err(XmlError::BadNamespaceDeclaration(format!("prefix {prefix} cannot be undeclared in XML 1.0")));
    }
    check_absolute(uri)
}

/// Canonical XML 1.0 (§2.1) must fail on relative namespace URIs, so they are
/// refused at the door: a namespace name needs a scheme.
fn check_absolute(uri: &str) -> Result<(), XmlError> {
    if uri.is_empty() {
        return Ok(()); // undeclaring the default namespace
    }
    let scheme = uri.split_once(':').map(|(s, _)| s).unwrap_or("");
    let valid = scheme.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if valid {
        Ok(())
    } else {
        Err(XmlError::BadNamespaceDeclaration(format!("relative namespace URI '{uri}' is not allowed")))
    }
}

/// Splits `p:local`. Names with more than one colon are not namespace-well-formed.
fn split_qname(name: &str) -> Result<(Option<&str>, &str), &'static str> {
    match name.split_once(':') {
        None => Ok((None, name)),
        Some((p, l)) if !p.is_empty() && !l.is_empty() && !l.contains(':') => Ok((Some(p), l)),
        Some(_) => Err("name is not namespace-well-formed"),
    }
}

fn check_name(name: &str, limits: &XmlLimits) -> Result<(), &'static str> {
    if name.len() > limits.max_name_bytes {
        return Err("name too long");
    }
    let mut chars = name.chars();
    let first = chars.next().ok_or("empty name")?;
    if !(first.is_alphabetic() || first == '_' || first == ':' || (first as u32) > 0x7F) {
        return Err("name starts with a character not allowed there");
    }
    if !chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | ':' | '-' | '.') || (c as u32) > 0x7F) {
        return Err("name contains a character not allowed in names");
    }
    Ok(())
}

/// Appends `raw` to `out`, turning CRLF and lone CR into LF (XML 1.0 §2.11).
fn push_normalized_eol(out: &mut String, raw: &str) {
    if !raw.contains('\r') {
        out.push_str(raw);
        return;
    }
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\r' {
            if chars.peek() == Some(&'\n') {
                chars.next();
            }
            out.push('\n');
        } else {
            out.push(c);
        }
    }
}

/// Expands one reference body (`amp`, `#x41`, ...). Only the five predefined
/// entities exist: DOCTYPE is refused, so nothing else can be declared.
fn resolve_reference(body: &str) -> Result<char, XmlError> {
    let c = match body {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "apos" => '\'',
        "quot" => '"',
        _ => {
            let code = if let Some(hex) = body.strip_prefix("#x") {
                u32::from_str_radix(hex, 16).ok()
            } else if let Some(dec) = body.strip_prefix('#') {
                dec.parse::<u32>().ok()
            } else {
                return Err(XmlError::UndefinedEntity(body.to_owned()));
            };
            let c = code.and_then(char::from_u32).filter(|&c| is_xml_char(c));
            return c.ok_or_else(|| XmlError::Malformed {
                offset: 0,
                reason: format!("character reference &{body}; is not an XML character"),
            });
        }
    };
    Ok(c)
}

fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && !matches!(c, '\u{FFFE}' | '\u{FFFF}'))
}

/// Attribute-value normalisation (XML 1.0 §3.3.3) for CDATA attributes:
/// literal whitespace becomes a space, references are expanded (a `&#10;`
/// stays a newline), and `<` is refused.
fn normalize_attribute_value(raw: &str) -> Result<String, XmlError> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(pos) = rest.find(['&', '<', '\r', '\n', '\t']) {
        out.push_str(&rest[..pos]);
        let c = rest.as_bytes()[pos];
        rest = &rest[pos + 1..];
        match c {
            b'<' => {
                return Err(XmlError::Malformed { offset: 0, reason: "'<' in an attribute value".into() });
            }
            b'&' => {
                let end = rest.find(';').ok_or_else(|| XmlError::Malformed {
                    offset: 0,
                    reason: "unterminated reference in an attribute value".into(),
                })?;
                out.push(resolve_reference(&rest[..end])?);
                rest = &rest[end + 1..];
            }
            b'\r' => {
                rest = rest.strip_prefix('\n').unwrap_or(rest);
                out.push(' ');
            }
            _ => out.push(' '),
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Document, XmlError> {
        parse(s.as_bytes(), &XmlLimits::default())
    }

    #[test]
    fn refuses_doctype_and_entities() {
        assert_eq!(p("<!DOCTYPE a [<!ENTITY x 'y'>]><a>&x;</a>").unwrap_err(), XmlError::DoctypeRefused);
        assert_eq!(p("<a>&x;</a>").unwrap_err(), XmlError::UndefinedEntity("x".into()));
    }

    #[test]
    fn enforces_depth_attribute_and_size_limits() {
        let limits = XmlLimits { max_depth: 3, max_attributes: 2, ..XmlLimits::default() };
        assert!(parse(b"<a><b><c/></b></a>", &limits).is_ok());
        assert_eq!(parse(b"<a><b><c><d/></c></b></a>", &limits).unwrap_err(), XmlError::TooDeep { limit: 3 });
        assert_eq!(
            parse(b"<a x='1' y='2' z='3'/>", &limits).unwrap_err(),
            XmlError::TooManyAttributes { limit: 2 }
        );
        let small = XmlLimits::default().with_max_document_bytes(10);
        assert!(matches!(parse(b"<a>0123456789</a>", &small), Err(XmlError::TooLarge { .. })));
    }

    #[test]
    fn accepts_bom_and_normalises_line_ends_and_attributes() {
        let doc = parse(b"\xEF\xBB\xBF<a x='1\r\n2&#10;3\t4'>l1\r\nl2\rl3&#13;</a>", &XmlLimits::default()).unwrap();
        let root = doc.document_element().unwrap();
        assert_eq!(doc.element(root).unwrap().attribute("x"), Some("1 2\n3 4"));
        assert_eq!(doc.text_content(root), "l1\nl2\nl3\r");
    }

    #[test]
    fn resolves_namespaces_and_rejects_unbound_or_duplicate() {
        let doc = p("<a xmlns='urn:d' xmlns:p='urn:p'><p:b p:x='1' x='2'/><c xmlns=''/></a>").unwrap();
        let root = doc.document_element().unwrap();
        let kids: Vec<_> = doc.child_elements(root).collect();
        let b = doc.element(kids[0]).unwrap();
        assert!(b.is("urn:p", "b"));
        assert_eq!(b.attribute_ns("urn:p", "x"), Some("1"));
        assert_eq!(b.attribute("x"), Some("2"));
        assert_eq!(doc.element(kids[1]).unwrap().namespace(), None);
        assert_eq!(p("<q:a/>").unwrap_err(), XmlError::UnboundPrefix("q".into()));
        assert!(matches!(
            p("<a xmlns:p='urn:x' xmlns:q='urn:x' p:k='1' q:k='2'/>"),
            Err(XmlError::DuplicateAttribute(_))
        ));
    }

    #[test]
    fn refuses_malformed_input() {
        for bad in ["<a xmlns='rel/uri'/>", "<a>", "<a></b>", "<a/><b/>", "text<a/>", "<a x=1/>", "<a>\u{1}</a>", "", "<a x='<'/>"] {
            assert!(p(bad).is_err(), "accepted {bad:?}");
        }
        assert_eq!(
            p("<?xml version='1.0' encoding='ISO-8859-1'?><a/>").unwrap_err(),
            XmlError::UnsupportedEncoding("ISO-8859-1".into())
        );
    }
}
