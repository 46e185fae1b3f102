//! A first line against malicious attachments (B1.3.3 §5.3 row 3: BV
//! forbidden): executables by their magic bytes, and PDFs carrying active
//! content (JavaScript, launch actions, embedded files, rich media).
//!
//! This is a signature check, not a virus scanner: it cannot see inside
//! compressed PDF object streams, and a production node should also pass
//! attachments to the organisation's malware scanning. It decodes base64 in
//! fixed chunks, so its memory does not grow with the attachment.

use super::message_rules::for_each_base64_chunk;

/// Why an attachment was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finding {
    Executable(&'static str),
    ActivePdfContent(&'static str),
}

impl Finding {
    pub fn describe(self) -> String {
        match self {
            Finding::Executable(kind) => format!("attachment is an executable ({kind})"),
            Finding::ActivePdfContent(name) => format!("PDF attachment carries active content ({name})"),
        }
    }
}

const EXECUTABLE_MAGIC: &[(&[u8], &str)] = &[
    (b"MZ", "Windows PE/DOS"),
    (b"\x7fELF", "ELF"),
    (b"\xfe\xed\xfa\xce", "Mach-O"),
    (b"\xfe\xed\xfa\xcf", "Mach-O"),
    (b"\xcf\xfa\xed\xfe", "Mach-O"),
    (b"\xce\xfa\xed\xfe", "Mach-O"),
    (b"#!", "script"),
];

/// PDF name objects that make a document act on its own when opened.
const ACTIVE_PDF_NAMES: &[&str] = &["/JavaScript", "/JS", "/Launch", "/EmbeddedFile", "/RichMedia"];

/// Scans base64 `parts` (an attachment's `content` text nodes).
pub fn scan_base64<'a, T: Into<crate::xml::TextRef<'a>>>(parts: impl IntoIterator<Item = T>) -> Option<Finding> {
    let engine = base64::engine::general_purpose::STANDARD;
    let mut decoded = Vec::new();
    let mut scanner = Scanner::default();
    let mut finding = None;
    for_each_base64_chunk(parts, |chunk| {
        decoded.clear();
        if base64::Engine::decode_vec(&engine, chunk, &mut decoded).is_err() {
            return false; // the base64 rule reports it
        }
        finding = scanner.feed(&decoded);
        finding.is_none()
    });
    finding
}

/// Streaming matcher; keeps a short tail so names split across chunks match.
#[derive(Default)]
struct Scanner {
    started: bool,
    is_pdf: bool,
    tail: Vec<u8>,
}

const TAIL: usize = 16;

impl Scanner {
    fn feed(&mut self, bytes: &[u8]) -> Option<Finding> {
        if !self.started {
            self.started = true;
            if let Some((_, kind)) = EXECUTABLE_MAGIC.iter().find(|(m, _)| bytes.starts_with(m)) {
                return Some(Finding::Executable(kind));
            }
            self.is_pdf = bytes.starts_with(b"%PDF-");
        }
        if !self.is_pdf {
            return None;
        }
        let mut window = std::mem::take(&mut self.tail);
        window.extend_from_slice(bytes);
        let found = ACTIVE_PDF_NAMES.iter().find(|name| contains_name(&window, name.as_bytes()));
        let keep = window.len().saturating_sub(TAIL);
        self.tail = window.split_off(keep);
        found.map(|name| Finding::ActivePdfContent(name))
    }
}

/// `name` as a whole PDF name: the next byte must be a delimiter or space,
/// so `/JS` does not match `/JSON`-like names.
fn contains_name(haystack: &[u8], name: &[u8]) -> bool {
    haystack.windows(name.len() + 1).any(|w| {
        w.starts_with(name) && matches!(w[name.len()], b' ' | b'\n' | b'\r' | b'\t' | b'(' | b'<' | b'[' | b'/' | b'>')
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    #[test]
    fn flags_executables_and_active_pdfs_only() {
        assert_eq!(scan_base64([b64(b"MZ\x90\x00rest").as_str()]), Some(Finding::Executable("Windows PE/DOS")));
        assert_eq!(scan_base64([b64(b"\x7fELF\x02").as_str()]), Some(Finding::Executable("ELF")));
        let js = b"%PDF-1.7\n1 0 obj<</OpenAction<</S/JavaScript/JS(app.alert(1))>>>>endobj";
        assert_eq!(scan_base64([b64(js).as_str()]), Some(Finding::ActivePdfContent("/JavaScript")));
        let plain = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n%%EOF";
        assert_eq!(scan_base64([b64(plain).as_str()]), None);
        assert_eq!(scan_base64([b64(b"just text /JavaScript here").as_str()]), None);
    }

    #[test]
    fn finds_names_split_across_chunks() {
        let mut pdf = b"%PDF-1.7\n".to_vec();
        pdf.resize(48 * 1024 - 4, b' '); // puts "/Launch" across a 64 KiB base64 chunk edge
        pdf.extend_from_slice(b"/Launch ");
        pdf.resize(200 * 1024, b' ');
        assert_eq!(scan_base64([b64(&pdf).as_str()]), Some(Finding::ActivePdfContent("/Launch")));
    }
}
