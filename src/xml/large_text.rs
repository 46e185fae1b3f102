//! Large text kept out of memory while a document is parsed.
//!
//! In SDK the bulk of a large document is one long run of base64: the
//! `CipherValue` of an encrypted payload or the content of an attachment.
//! [`split`] reads a document from a [`Blob`] in one pass and moves every
//! run of character data longer than the spool's threshold that consists
//! only of base64 characters, XML whitespace and whitespace character
//! references into a blob of its own, leaving in its place a processing
//! instruction whose target carries a random nonce. The reader then parses
//! the small remainder ("skeleton") as usual and turns each placeholder into
//! a [`NodeKind::LargeText`](super::NodeKind::LargeText) node.
//!
//! The run is stored as it appeared in the input; [`LargeText::reader`]
//! applies end-of-line normalisation and expands the character references
//! when it is read, so a large text node has exactly the value the same
//! text would have had inline.
//!
//! Splitting needs to know only where character data is: outside markup,
//! after `>` and up to `<`. Comments, CDATA sections, processing
//! instructions and tags (with quoted attribute values, which may hold `>`)
//! are copied through untouched. A document the splitter misreads is not
//! well-formed, and the parser refuses it whatever the splitter did.

use std::io::{self, BufRead, BufReader, Read, Write};

use crate::spool::{Blob, BlobWriter, Spool};

/// Character data kept in a blob, as it appeared in the document.
#[derive(Debug, Clone)]
pub struct LargeText {
    raw: Blob,
}

/// Two large texts are equal when they are the same stored run.
impl PartialEq for LargeText {
    fn eq(&self, other: &Self) -> bool {
        self.raw.same(&other.raw)
    }
}
impl Eq for LargeText {}

impl LargeText {
    /// Large text holding `blob`, which must be base64 and XML whitespace
    /// only (what encryption writes into a `CipherValue`).
    pub fn from_base64(blob: Blob) -> io::Result<LargeText> {
        let mut ok = true;
        blob.for_each_chunk(|chunk| ok &= chunk.iter().all(|&b| is_run_byte(b)))?;
        if !ok {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "not base64 text"));
        }
        Ok(LargeText { raw: blob })
    }

    /// The text's value: end-of-line normalised, references expanded.
    pub fn reader(&self) -> io::Result<impl Read> {
        Ok(ValueReader { inner: BufReader::new(self.raw.reader()?), pending: Vec::new(), cr: false, done: false })
    }

    /// The raw bytes' length: an upper bound of the value's length.
    pub fn raw_len(&self) -> u64 {
        self.raw.len()
    }

    /// The value, for callers that need it whole. Large text exists to avoid
    /// this; it is here so that no consumer silently sees an empty string.
    pub fn to_string_lossy(&self) -> io::Result<String> {
        let mut s = String::new();
        self.reader()?.read_to_string(&mut s)?;
        Ok(s)
    }
}

/// The output of [`split`]: what the parser reads, and the runs taken out.
pub struct Split {
    pub skeleton: Vec<u8>,
    pub placeholder_target: String,
    pub runs: Vec<LargeText>,
}

/// Whitespace character references a run may contain (Java and .NET
/// signers write `&#13;` into base64 line ends).
const REFERENCES: [&[u8]; 8] = [b"&#13;", b"&#xD;", b"&#xd;", b"&#10;", b"&#xA;", b"&#xa;", b"&#9;", b"&#x9;"];

fn is_run_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b' ' | b'\t' | b'\r' | b'\n')
}

/// Markup the splitter copies through, with the bytes that end it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    Text,
    /// Just after `<`: which construct follows is not known yet.
    Open,
    Tag { quote: Option<u8> },
    Comment,
    CData,
    Pi,
    /// `<!` not followed by `--` or `[CDATA[` (a DOCTYPE, refused later).
    Declaration,
}

/// Splits the document read from `input`; runs longer than `threshold`
/// bytes go to blobs in `spool`.
pub fn split(input: impl Read, spool: &Spool, threshold: usize) -> io::Result<Split> {
    let placeholder_target = format!("brygga-large-text-{}", uuid::Uuid::new_v4().simple());
    let mut s = Splitter {
        spool,
        threshold,
        skeleton: Vec::new(),
        runs: Vec::new(),
        run: Vec::new(),
        run_ok: true,
        spilled: None,
        state: State::Text,
        open: Vec::new(),
        target: placeholder_target.clone(),
        reference: None,
    };
    let mut reader = BufReader::with_capacity(crate::spool::IO_BUFFER, input);
    loop {
        let chunk = reader.fill_buf()?;
        if chunk.is_empty() {
            break;
        }
        let n = chunk.len();
        s.feed(chunk)?;
        reader.consume(n);
    }
    s.end_run()?;
    s.skeleton.extend_from_slice(&s.open);
    Ok(Split { skeleton: s.skeleton, placeholder_target, runs: s.runs })
}

struct Splitter<'a> {
    spool: &'a Spool,
    threshold: usize,
    skeleton: Vec<u8>,
    runs: Vec<LargeText>,
    /// Character data of the current run, while it is small.
    run: Vec<u8>,
    /// Whether the run so far is eligible (base64, whitespace, references);
    /// an unfinished `&...` reference is kept at the end of `run`.
    run_ok: bool,
    spilled: Option<BlobWriter>,
    state: State,
    /// Bytes after `<` while the construct is being recognised.
    open: Vec<u8>,
    target: String,
    /// An unfinished character reference in the run.
    reference: Option<Vec<u8>>,
}

impl Splitter<'_> {
    fn feed(&mut self, chunk: &[u8]) -> io::Result<()> {
        let mut i = 0;
        while i < chunk.len() {
            match self.state {
                State::Text => {
                    // Character data up to the next '<'.
                    let end = chunk[i..].iter().position(|&b| b == b'<').map_or(chunk.len(), |p| i + p);
                    self.text(&chunk[i..end])?;
                    if end < chunk.len() {
                        self.end_run()?;
                        self.state = State::Open;
                        self.open.clear();
                        self.open.push(b'<');
                    }
                    i = end + 1;
                    continue;
                }
                State::Open => {
                    self.open.push(chunk[i]);
                    i += 1;
                    let o = self.open.as_slice();
                    let next = if o.starts_with(b"<!--") {
                        Some(State::Comment)
                    } else if o.starts_with(b"<![CDATA[") {
                        Some(State::CData)
                    } else if o.starts_with(b"<?") {
                        Some(State::Pi)
                    } else if b"<!--".starts_with(o) || b"<![CDATA[".starts_with(o) {
                        None // still ambiguous
                    } else if o.starts_with(b"<!") {
                        Some(State::Declaration)
                    } else {
                        Some(State::Tag { quote: None })
                    };
                    if let Some(next) = next {
                        self.skeleton.extend_from_slice(&self.open);
                        self.open.clear();
                        // The recognised prefix may already end the construct
                        // (`<a>`), or open a quote (`<a b="`... cannot happen
                        // in the prefix, which ends at the second byte).
                        self.state = next;
                        if let State::Tag { .. } = next {
                            let last = *self.skeleton.last().expect("just pushed");
                            self.state = tag_step(State::Tag { quote: None }, last);
                        }
                    }
                    continue;
                }
                State::Tag { .. } | State::Declaration => {
                    let b = chunk[i];
                    self.skeleton.push(b);
                    self.state = match self.state {
                        State::Declaration if b == b'>' => State::Text,
                        State::Declaration => State::Declaration,
                        tag => tag_step(tag, b),
                    };
                    i += 1;
                }
                State::Comment | State::CData | State::Pi => {
                    let terminator: &[u8] = match self.state {
                        State::Comment => b"-->",
                        State::CData => b"]]>",
                        _ => b"?>",
                    };
                    // Copy up to and including the terminator, which may
                    // straddle chunks: check against what is in the skeleton.
                    let b = chunk[i];
                    self.skeleton.push(b);
                    i += 1;
                    if b == b'>' && self.skeleton.ends_with(terminator) {
                        self.state = State::Text;
                    }
                }
            }
        }
        Ok(())
    }

    fn text(&mut self, bytes: &[u8]) -> io::Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        if self.run_ok {
            self.run_ok = self.check(bytes);
            if !self.run_ok {
                self.unspill()?;
            }
        }
        if !self.run_ok {
            self.skeleton.extend_from_slice(bytes);
            return Ok(());
        }
        match &mut self.spilled {
            Some(writer) => writer.write_all(bytes),
            None => {
                self.run.extend_from_slice(bytes);
                if self.run.len() > self.threshold {
                    let mut writer = self.spool.writer(u64::MAX);
                    writer.write_all(&self.run)?;
                    self.run.clear();
                    self.spilled = Some(writer);
                }
                Ok(())
            }
        }
    }

    /// Whether `bytes`, continuing the run, keep it eligible; tracks a
    /// character reference split across chunks.
    fn check(&mut self, bytes: &[u8]) -> bool {
        for &b in bytes {
            if let Some(reference) = &mut self.reference {
                reference.push(b);
                if b == b';' {
                    if !REFERENCES.contains(&reference.as_slice()) {
                        return false;
                    }
                    self.reference = None;
                } else if reference.len() >= 5 {
                    return false;
                }
            } else if b == b'&' {
                self.reference = Some(vec![b'&']);
            } else if !is_run_byte(b) {
                return false;
            }
        }
        true
    }

    /// The run turned out not to be eligible: put what was taken out back.
    fn unspill(&mut self) -> io::Result<()> {
        if let Some(writer) = self.spilled.take() {
            let blob = writer.finish()?;
            blob.reader()?.read_to_end(&mut self.skeleton)?;
        }
        self.skeleton.append(&mut self.run);
        Ok(())
    }

    fn end_run(&mut self) -> io::Result<()> {
        if self.reference.take().is_some() {
            // An unfinished reference: not ours to judge, the parser will.
            self.run_ok = false;
            self.unspill()?;
        }
        match self.spilled.take() {
            Some(writer) => {
                let index = self.runs.len();
                self.runs.push(LargeText { raw: writer.finish()? });
                write!(self.skeleton, "<?{} {index}?>", self.target)?;
            }
            None => self.skeleton.append(&mut self.run),
        }
        self.run_ok = true;
        Ok(())
    }
}

/// The next tag state after byte `b`: quotes are tracked so that a `>` in
/// an attribute value does not end the tag.
fn tag_step(state: State, b: u8) -> State {
    match state {
        State::Tag { quote: None } => match b {
            b'>' => State::Text,
            b'"' | b'\'' => State::Tag { quote: Some(b) },
            _ => state,
        },
        State::Tag { quote: Some(q) } if b == q => State::Tag { quote: None },
        other => other,
    }
}

/// Reads a run's value: CRLF and lone CR become LF (XML 1.0 §2.11), and
/// the whitespace character references become their characters (after
/// normalisation, so `&#13;` stays a CR).
struct ValueReader<R> {
    inner: R,
    pending: Vec<u8>,
    cr: bool,
    done: bool,
}

impl<R: BufRead> Read for ValueReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let mut written = 0;
        while written < out.len() && !self.done {
            let chunk = self.inner.fill_buf()?;
            if chunk.is_empty() {
                self.done = true;
                if !self.pending.is_empty() {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, "unfinished character reference"));
                }
                break;
            }
            let mut used = 0;
            for &b in chunk {
                if written == out.len() {
                    break;
                }
                used += 1;
                if !self.pending.is_empty() || b == b'&' {
                    self.pending.push(b);
                    if b == b';' {
                        out[written] = match &self.pending[2..] {
                            b"13;" | b"xD;" | b"xd;" => b'\r',
                            b"10;" | b"xA;" | b"xa;" => b'\n',
                            b"9;" | b"x9;" => b'\t',
                            _ => return Err(io::Error::new(io::ErrorKind::InvalidData, "unexpected reference")),
                        };
                        written += 1;
                        self.pending.clear();
                    }
                    self.cr = false;
                    continue;
                }
                match b {
                    b'\r' => {
                        out[written] = b'\n';
                        written += 1;
                        self.cr = true;
                    }
                    b'\n' if self.cr => self.cr = false,
                    _ => {
                        out[written] = b;
                        written += 1;
                        self.cr = false;
                    }
                }
            }
            self.inner.consume(used);
        }
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split_str(doc: &str, threshold: usize) -> (String, Vec<String>) {
        let spool = Spool::temporary().with_memory_threshold(0);
        let split = split(doc.as_bytes(), &spool, threshold).unwrap();
        let skeleton = String::from_utf8(split.skeleton).unwrap().replace(&split.placeholder_target, "T");
        let runs = split.runs.iter().map(|r| r.to_string_lossy().unwrap()).collect();
        (skeleton, runs)
    }

    #[test]
    fn long_base64_runs_are_taken_out_and_read_back_normalised() {
        let doc = "<a x='>aaaaaaaaaa'><b>QUJD\r\nREVG&#13;\nR0g=</b><!-- QUJDREVGR0hJSktMTU5P --><c>short</c></a>";
        let (skeleton, runs) = split_str(doc, 8);
        assert_eq!(skeleton, "<a x='>aaaaaaaaaa'><b><?T 0?></b><!-- QUJDREVGR0hJSktMTU5P --><c>short</c></a>");
        assert_eq!(runs, vec!["QUJD\nREVG\r\nR0g=".to_owned()]);
    }

    #[test]
    fn markup_and_ineligible_text_are_copied_through() {
        let doc = "<a><![CDATA[QUJDREVGR0hJSktMTU5P]]><?pi QUJDREVGR0hJSktMTU5P?>QUJDREVGR0hJ&amp;SktMTU5P<b/>QUJDREVGR0hJSktMTU5P&#x20;</a>";
        let (skeleton, runs) = split_str(doc, 8);
        assert_eq!(skeleton, doc);
        assert!(runs.is_empty());
    }

    #[test]
    fn chunk_edges_do_not_matter() {
        // Runs longer than the spool's I/O buffer cross chunk edges, also
        // inside a reference.
        let line = "QUJDREVGR0hJSktMTU5P&#xD;\n";
        let body = line.repeat(10_000);
        let doc = format!("<a><b>{body}</b><c>{body}x-y</c></a>");
        let (skeleton, runs) = split_str(&doc, 1000);
        assert_eq!(skeleton, format!("<a><b><?T 0?></b><c>{body}x-y</c></a>"));
        assert_eq!(runs, vec!["QUJDREVGR0hJSktMTU5P\r\n".repeat(10_000)]);
    }
}

#[cfg(test)]
mod parse_tests {
    use crate::limits::XmlLimits;
    use crate::spool::{Blob, Spool};
    use crate::xml::{canonicalize, parse, parse_blob, serialize, C14nMethod, NodeKind, NodeId};

    fn large_doc() -> String {
        let b64 = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=&#13;\n".repeat(3000);
        format!(
            "<?xml version=\"1.0\"?>\r\n<r xmlns=\"urn:x\" xmlns:p=\"urn:p\"><p:v a=\"1 > 0\">{b64}</p:v><w><![CDATA[x]]>{b64}ta-il</w>\r\n<!--c--></r>"
        )
    }

    #[test]
    fn a_document_parsed_from_disk_canonicalises_exactly_as_in_memory() {
        let doc = large_doc();
        let spool = Spool::temporary().with_memory_threshold(0);
        let limits = XmlLimits::default();
        let from_disk = parse_blob(&Blob::from(doc.as_bytes()), &limits, &spool).unwrap();
        let in_memory = parse(doc.as_bytes(), &limits).unwrap();
        let large = from_disk.descendants(NodeId::DOCUMENT).filter(|&i| matches!(from_disk.kind(i), NodeKind::LargeText(_))).count();
        assert_eq!(large, 1, "the first run is taken out, the one ending in 'ta-il' is not eligible");
        for uri in [super::super::c14n::C14N_10, super::super::c14n::EXC_C14N, super::super::c14n::C14N_10_WITH_COMMENTS] {
            let method = C14nMethod::from_uri(uri).unwrap();
            assert_eq!(
                canonicalize(&from_disk, NodeId::DOCUMENT, &method),
                canonicalize(&in_memory, NodeId::DOCUMENT, &method)
            );
        }
        assert_eq!(serialize(&from_disk, NodeId::DOCUMENT), serialize(&in_memory, NodeId::DOCUMENT));
        let v = from_disk.document_element().and_then(|r| from_disk.child_elements(r).next()).unwrap();
        assert_eq!(from_disk.text_content(v), in_memory.text_content(v));
    }

    #[test]
    fn a_forged_placeholder_is_refused_and_limits_still_apply() {
        let spool = Spool::temporary().with_memory_threshold(0);
        let forged = format!("<r><?brygga-large-text-{} 0?>{}</r>", "0".repeat(32), "A".repeat(5000));
        let doc = parse_blob(&Blob::from(forged.as_bytes()), &XmlLimits::default(), &spool).unwrap();
        let r = doc.document_element().unwrap();
        assert!(matches!(doc.kind(doc.children(r)[0]), NodeKind::Pi(_)), "another nonce is an ordinary PI");
        let small = XmlLimits::default().with_max_document_bytes(100);
        assert!(parse_blob(&Blob::from(forged.as_bytes()), &small, &spool).is_err());
        let outside = format!("<r/>{}", "A".repeat(5000));
        assert!(parse_blob(&Blob::from(outside.as_bytes()), &XmlLimits::default(), &spool).is_err());
    }
}
