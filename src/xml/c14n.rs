//! Canonical XML 1.0 and Exclusive XML Canonicalization 1.0, for a whole
//! document or a subtree, optionally leaving one subtree out (the
//! enveloped-signature transform). Also the plain serialiser, which shares
//! the traversal and the escaping rules.
//!
//! Output streams into any [`Write`], so a digest can be computed over a
//! large document without building the canonical bytes in memory.
//!
//! This module does not evaluate XPath: the node-sets XML-DSig needs in SDK's
//! profile are "a subtree, minus comments, minus one subtree", and that is
//! what [`Canonicalizer`] takes.

use std::io::{self, Read, Write};

use super::tree::{Document, NodeId, NodeKind, XML_NS};

/// Algorithm identifiers as they appear in `Algorithm` attributes.
pub const C14N_10: &str = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315";
pub const C14N_10_WITH_COMMENTS: &str = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments";
pub const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
pub const EXC_C14N_WITH_COMMENTS: &str = "http://www.w3.org/2001/10/xml-exc-c14n#WithComments";

/// Which canonicalisation, and its parameters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct C14nMethod {
    pub exclusive: bool,
    pub with_comments: bool,
    /// Exclusive only: prefixes treated as in inclusive C14N
    /// (`None` stands for `#default`).
    pub inclusive_prefixes: Vec<Option<String>>,
}

impl C14nMethod {
    pub const INCLUSIVE: C14nMethod = C14nMethod { exclusive: false, with_comments: false, inclusive_prefixes: Vec::new() };
    pub const EXCLUSIVE: C14nMethod = C14nMethod { exclusive: true, with_comments: false, inclusive_prefixes: Vec::new() };

    /// Parses an `InclusiveNamespaces/@PrefixList` value.
    pub fn with_prefix_list(mut self, list: &str) -> Self {
        self.inclusive_prefixes = list
            .split_ascii_whitespace()
            .map(|p| if p == "#default" { None } else { Some(p.to_owned()) })
            .collect();
        self
    }

    /// The method named by an algorithm URI, without a prefix list.
    pub fn from_uri(uri: &str) -> Option<Self> {
        let (exclusive, with_comments) = match uri {
            C14N_10 => (false, false),
            C14N_10_WITH_COMMENTS => (false, true),
            EXC_C14N => (true, false),
            EXC_C14N_WITH_COMMENTS => (true, true),
            _ => return None,
        };
        Some(Self { exclusive, with_comments, inclusive_prefixes: Vec::new() })
    }

    pub fn uri(&self) -> &'static str {
        match (self.exclusive, self.with_comments) {
            (false, false) => C14N_10,
            (false, true) => C14N_10_WITH_COMMENTS,
            (true, false) => EXC_C14N,
            (true, true) => EXC_C14N_WITH_COMMENTS,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Inclusive,
    Exclusive,
    /// Declarations and attributes as written; no sorting, no pruning.
    Serialize,
}

/// Canonicalises `apex` (the document node for a whole document) leaving out
/// `exclude` and everything below it.
pub struct Canonicalizer<'d> {
    doc: &'d Document,
    method: &'d C14nMethod,
    mode: Mode,
    exclude: Option<NodeId>,
}

impl<'d> Canonicalizer<'d> {
    pub fn new(doc: &'d Document, method: &'d C14nMethod) -> Self {
        let mode = if method.exclusive { Mode::Exclusive } else { Mode::Inclusive };
        Self { doc, method, mode, exclude: None }
    }

    /// Leaves `node` and its subtree out (enveloped-signature transform).
    pub fn excluding(mut self, node: Option<NodeId>) -> Self {
        self.exclude = node;
        self
    }

    pub fn write_to<W: Write>(&self, apex: NodeId, sink: &mut W) -> io::Result<()> {
        let mut out = Buffered { buf: Vec::with_capacity(BUFFER), sink };
        let with_comments = self.method.with_comments || self.mode == Mode::Serialize;
        let mut state = State::new(self.doc, apex);
        if apex == NodeId::DOCUMENT {
            let children = self.doc.children(NodeId::DOCUMENT);
            let root_pos = children.iter().position(|&c| self.doc.element(c).is_some());
            for (i, &child) in children.iter().enumerate() {
                if Some(child) == self.exclude {
                    continue;
                }
                let is_comment = matches!(self.doc.kind(child), NodeKind::Comment(_));
                if is_comment && !with_comments {
                    continue;
                }
                let before_root = root_pos.is_some_and(|r| i < r);
                let after_root = root_pos.is_some_and(|r| i > r);
                if after_root {
                    out.put(b"\n")?;
                }
                self.node(child, &mut state, &mut out, with_comments)?;
                if before_root {
                    out.put(b"\n")?;
                }
            }
        } else {
            self.node(apex, &mut state, &mut out, with_comments)?;
        }
        out.flush()
    }

    pub fn to_vec(&self, apex: NodeId) -> Vec<u8> {
        let mut v = Vec::new();
        self.write_to(apex, &mut v).expect("writing to a Vec cannot fail");
        v
    }

    /// Iterative walk: elements push an end marker so deep documents do not
    /// grow the call stack.
    fn node<W: Write>(&self, start: NodeId, state: &mut State<'d>, out: &mut Buffered<'_, W>, with_comments: bool) -> io::Result<()> {
        enum Step {
            Enter(NodeId),
            Leave(NodeId),
        }
        let mut stack = vec![Step::Enter(start)];
        while let Some(step) = stack.pop() {
            match step {
                Step::Leave(id) => {
                    let e = self.doc.element(id).expect("only elements are left");
                    out.put(b"</")?;
                    put_qname(out, e.prefix.as_deref(), &e.local)?;
                    out.put(b">")?;
                    state.pop();
                }
                Step::Enter(id) => {
                    if Some(id) == self.exclude {
                        continue;
                    }
                    match self.doc.kind(id) {
                        NodeKind::Document => {}
                        NodeKind::Element(_) => {
                            self.start_tag(id, id == start, state, out)?;
                            stack.push(Step::Leave(id));
                            stack.extend(self.doc.children(id).iter().rev().map(|&c| Step::Enter(c)));
                        }
                        NodeKind::Text(t) => escape_text(out, t)?,
                        NodeKind::LargeText(t) => {
                            let mut reader = t.reader()?;
                            let mut buf = [0u8; 16 * 1024];
                            loop {
                                let n = reader.read(&mut buf)?;
                                if n == 0 {
                                    break;
                                }
                                // Large text is ASCII by construction.
                                let s = std::str::from_utf8(&buf[..n])
                                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                                escape_text(out, s)?;
                            }
                        }
                        NodeKind::Comment(c) => {
                            if with_comments {
                                out.put(b"<!--")?;
                                out.put(c.as_bytes())?;
                                out.put(b"-->")?;
                            }
                        }
                        NodeKind::Pi(pi) => {
                            out.put(b"<?")?;
                            out.put(pi.target.as_bytes())?;
                            if !pi.data.is_empty() {
                                out.put(b" ")?;
                                out.put(pi.data.as_bytes())?;
                            }
                            out.put(b"?>")?;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn start_tag<W: Write>(&self, id: NodeId, is_apex: bool, state: &mut State<'d>, out: &mut Buffered<'_, W>) -> io::Result<()> {
        let e = self.doc.element(id).expect("start_tag is called on elements");
        state.enter(e);

        let mut decls: Vec<(Option<&str>, &str)> = Vec::new();
        match self.mode {
            Mode::Serialize => {
                if is_apex {
                    // A subtree written on its own keeps the bindings it inherits.
                    for (p, uri) in state.in_scope() {
                        decls.push((p, uri));
                    }
                } else {
                    decls.extend(e.namespaces.iter().map(|d| (d.prefix.as_deref(), d.uri.as_str())));
                }
            }
            Mode::Inclusive => {
                for (p, uri) in state.in_scope() {
                    if state.rendered(p) != uri {
                        decls.push((p, uri));
                    }
                }
                if state.lookup(None).is_empty() && !state.rendered(None).is_empty() {
                    decls.push((None, ""));
                }
            }
            Mode::Exclusive => {
                let mut utilized: Vec<Option<&str>> = vec![e.prefix.as_deref()];
                for a in &e.attributes {
                    if let Some(p) = a.prefix.as_deref() {
                        if p != "xml" && !utilized.contains(&Some(p)) {
                            utilized.push(Some(p));
                        }
                    }
                }
                for p in utilized {
                    let uri = state.lookup(p);
                    if state.rendered(p) != uri {
                        decls.push((p, uri));
                    }
                }
                for p in &self.method.inclusive_prefixes {
                    let p = p.as_deref();
                    if decls.iter().any(|(q, _)| *q == p) {
                        continue;
                    }
                    let uri = state.lookup(p);
                    let in_scope = p.is_none() || !uri.is_empty();
                    if in_scope && state.rendered(p) != uri {
                        decls.push((p, uri));
                    }
                }
            }
        }
        if self.mode != Mode::Serialize {
            decls.sort_by(|a, b| a.0.unwrap_or("").cmp(b.0.unwrap_or("")));
        }
        for &(p, uri) in &decls {
            state.render(p, uri);
        }

        let mut attrs: Vec<(Option<&str>, &str, &str, &str)> = e
            .attributes
            .iter()
            .map(|a| (a.prefix.as_deref(), a.local.as_str(), a.ns.as_deref().unwrap_or(""), a.value.as_str()))
            .collect();
        if self.mode == Mode::Inclusive && is_apex {
            // C14N 1.0 §2.4: a subset's apex inherits xml:* attributes.
            for (local, value) in inherited_xml_attributes(self.doc, id) {
                if !attrs.iter().any(|a| a.2 == XML_NS && a.1 == local) {
                    attrs.push((Some("xml"), local, XML_NS, value));
                }
            }
        }
        if self.mode != Mode::Serialize {
            attrs.sort_by(|a, b| (a.2, a.1).cmp(&(b.2, b.1)));
        }

        out.put(b"<")?;
        put_qname(out, e.prefix.as_deref(), &e.local)?;
        for (p, uri) in decls {
            match p {
                None => out.put(b" xmlns=\"")?,
                Some(p) => {
                    out.put(b" xmlns:")?;
                    out.put(p.as_bytes())?;
                    out.put(b"=\"")?;
                }
            }
            escape_attribute(out, uri)?;
            out.put(b"\"")?;
        }
        for (p, local, _, value) in attrs {
            out.put(b" ")?;
            put_qname(out, p, local)?;
            out.put(b"=\"")?;
            escape_attribute(out, value)?;
            out.put(b"\"")?;
        }
        out.put(b">")
    }
}

/// Writes `doc` (or the subtree at `node`) as XML, keeping declarations and
/// attributes as they are. The output re-parses to the same tree.
pub fn serialize(doc: &Document, node: NodeId) -> Vec<u8> {
    let mut out = Vec::new();
    serialize_to(doc, node, &mut out).expect("writing to a Vec cannot fail");
    out
}

/// [`serialize`] into `sink`, streaming any large text; fails only when the
/// sink does or large text cannot be read.
pub fn serialize_to<W: Write>(doc: &Document, node: NodeId, sink: &mut W) -> io::Result<()> {
    let method = C14nMethod::INCLUSIVE;
    let c = Canonicalizer { doc, method: &method, mode: Mode::Serialize, exclude: None };
    c.write_to(node, sink)
}

/// Canonical bytes of `node` (the document node for the whole document).
pub fn canonicalize(doc: &Document, node: NodeId, method: &C14nMethod) -> Vec<u8> {
    Canonicalizer::new(doc, method).to_vec(node)
}

fn inherited_xml_attributes(doc: &Document, id: NodeId) -> Vec<(&str, &str)> {
    let mut found: Vec<(&str, &str)> = Vec::new();
    let mut cur = doc.parent(id);
    while let Some(n) = cur {
        if let Some(e) = doc.element(n) {
            for a in &e.attributes {
                if a.ns.as_deref() == Some(XML_NS) && !found.iter().any(|(l, _)| *l == a.local) {
                    found.push((a.local.as_str(), a.value.as_str()));
                }
            }
        }
        cur = doc.parent(n);
    }
    found
}

/// Namespace bindings in scope, and those rendered by output ancestors.
struct State<'d> {
    scope: Vec<(Option<&'d str>, &'d str)>,
    scope_frames: Vec<usize>,
    rendered: Vec<(Option<&'d str>, &'d str)>,
    rendered_frames: Vec<usize>,
}

impl<'d> State<'d> {
    /// Starts with the bindings declared by `apex`'s ancestors in scope and
    /// nothing rendered.
    fn new(doc: &'d Document, apex: NodeId) -> Self {
        let mut ancestors = Vec::new();
        let mut cur = doc.parent(apex);
        while let Some(n) = cur {
            ancestors.push(n);
            cur = doc.parent(n);
        }
        let mut scope = Vec::new();
        for &a in ancestors.iter().rev() {
            if let Some(e) = doc.element(a) {
                scope.extend(e.namespaces.iter().map(|d| (d.prefix.as_deref(), d.uri.as_str())));
            }
        }
        Self { scope, scope_frames: Vec::new(), rendered: Vec::new(), rendered_frames: Vec::new() }
    }

    fn enter(&mut self, e: &'d super::tree::Element) {
        self.scope_frames.push(self.scope.len());
        self.rendered_frames.push(self.rendered.len());
        self.scope.extend(e.namespaces.iter().map(|d| (d.prefix.as_deref(), d.uri.as_str())));
    }

    fn pop(&mut self) {
        if let Some(m) = self.scope_frames.pop() {
            self.scope.truncate(m);
        }
        if let Some(m) = self.rendered_frames.pop() {
            self.rendered.truncate(m);
        }
    }

    /// Value bound to `prefix` in scope; "" when unbound.
    fn lookup(&self, prefix: Option<&str>) -> &'d str {
        self.scope.iter().rev().find(|(p, _)| *p == prefix).map(|(_, u)| *u).unwrap_or("")
    }

    /// Value an output ancestor rendered for `prefix`; "" when none did.
    fn rendered(&self, prefix: Option<&str>) -> &'d str {
        self.rendered.iter().rev().find(|(p, _)| *p == prefix).map(|(_, u)| *u).unwrap_or("")
    }

    fn render(&mut self, prefix: Option<&'d str>, uri: &'d str) {
        self.rendered.push((prefix, uri));
    }

    /// Distinct bindings in scope, nearest first, without an undeclared default.
    fn in_scope(&self) -> Vec<(Option<&'d str>, &'d str)> {
        let mut seen: Vec<(Option<&'d str>, &'d str)> = Vec::new();
        for &(p, u) in self.scope.iter().rev() {
            if !seen.iter().any(|(q, _)| *q == p) {
                seen.push((p, u));
            }
        }
        seen.retain(|(p, u)| !(p.is_none() && u.is_empty()));
        seen
    }
}

const BUFFER: usize = 64 * 1024;

/// Batches the many small writes of a walk into large ones for the sink
/// (a digest or a file).
struct Buffered<'w, W: Write> {
    buf: Vec<u8>,
    sink: &'w mut W,
}

impl<W: Write> Buffered<'_, W> {
    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.buf.len() + bytes.len() > BUFFER {
            self.sink.write_all(&self.buf)?;
            self.buf.clear();
            if bytes.len() > BUFFER {
                return self.sink.write_all(bytes);
            }
        }
        self.buf.extend_from_slice(bytes);
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.sink.write_all(&self.buf)?;
        self.buf.clear();
        self.sink.flush()
    }
}

fn put_qname<W: Write>(out: &mut Buffered<'_, W>, prefix: Option<&str>, local: &str) -> io::Result<()> {
    if let Some(p) = prefix {
        out.put(p.as_bytes())?;
        out.put(b":")?;
    }
    out.put(local.as_bytes())
}

/// Text node escaping of C14N §2.3.
fn escape_text<W: Write>(out: &mut Buffered<'_, W>, s: &str) -> io::Result<()> {
    escape(out, s, |b| match b {
        b'&' => Some(b"&amp;"),
        b'<' => Some(b"&lt;"),
        b'>' => Some(b"&gt;"),
        b'\r' => Some(b"&#xD;"),
        _ => None,
    })
}

/// Attribute value escaping of C14N §2.3.
fn escape_attribute<W: Write>(out: &mut Buffered<'_, W>, s: &str) -> io::Result<()> {
    escape(out, s, |b| match b {
        b'&' => Some(b"&amp;"),
        b'<' => Some(b"&lt;"),
        b'"' => Some(b"&quot;"),
        b'\t' => Some(b"&#x9;"),
        b'\n' => Some(b"&#xA;"),
        b'\r' => Some(b"&#xD;"),
        _ => None,
    })
}

fn escape<W: Write>(out: &mut Buffered<'_, W>, s: &str, replacement: impl Fn(u8) -> Option<&'static [u8]>) -> io::Result<()> {
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if let Some(r) = replacement(b) {
            out.put(&bytes[start..i])?;
            out.put(r)?;
            start = i + 1;
        }
    }
    out.put(&bytes[start..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::parse_str;

    fn c14n(xml: &str, method: &C14nMethod) -> String {
        let doc = parse_str(xml).unwrap();
        String::from_utf8(canonicalize(&doc, NodeId::DOCUMENT, method)).unwrap()
    }

    #[test]
    fn inclusive_drops_superfluous_declarations_and_sorts() {
        let out = c14n(
            "<?xml version='1.0'?><!--c--><a xmlns:b='urn:b' xmlns='urn:a' z='1' b:y='2' a='3'><b:c xmlns:b='urn:b'/></a><?pi x?>",
            &C14nMethod::INCLUSIVE,
        );
        assert_eq!(out, "<a xmlns=\"urn:a\" xmlns:b=\"urn:b\" a=\"3\" z=\"1\" b:y=\"2\"><b:c></b:c></a>\n<?pi x?>");
    }

    #[test]
    fn exclusive_renders_only_visibly_used_namespaces() {
        let doc = parse_str("<a xmlns:u='urn:u' xmlns:v='urn:v'><v:b><c u:x='1'/></v:b></a>").unwrap();
        let a = doc.document_element().unwrap();
        let b = doc.child_elements(a).next().unwrap();
        let out = String::from_utf8(canonicalize(&doc, b, &C14nMethod::EXCLUSIVE)).unwrap();
        assert_eq!(out, "<v:b xmlns:v=\"urn:v\"><c xmlns:u=\"urn:u\" u:x=\"1\"></c></v:b>");
        let incl = String::from_utf8(canonicalize(&doc, b, &C14nMethod::INCLUSIVE)).unwrap();
        assert_eq!(incl, "<v:b xmlns:u=\"urn:u\" xmlns:v=\"urn:v\"><c u:x=\"1\"></c></v:b>");
    }

    #[test]
    fn serialize_round_trips() {
        let src = "<a xmlns='urn:a' x='&#9;&lt;&quot;'>t&amp;&#13;<b/><!--c--></a>";
        let doc = parse_str(src).unwrap();
        let again = parse_str(std::str::from_utf8(&serialize(&doc, NodeId::DOCUMENT)).unwrap()).unwrap();
        let m = C14nMethod { with_comments: true, ..C14nMethod::INCLUSIVE };
        assert_eq!(canonicalize(&doc, NodeId::DOCUMENT, &m), canonicalize(&again, NodeId::DOCUMENT, &m));
    }
}
