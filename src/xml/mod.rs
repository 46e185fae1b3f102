//! XML: the bounded reader, the document tree, canonicalisation and writing.
//!
//! Inbound bytes enter Brygga here and nowhere else. This layer knows nothing
//! of signatures, SDK or the network; it has no I/O beyond `std::io::Write`
//! sinks and never reads the clock.

pub mod c14n;
pub mod cursor;
pub mod large_text;
pub mod reader;
pub mod tree;

pub use c14n::{canonicalize, serialize, serialize_to, C14nMethod, Canonicalizer};
pub use large_text::LargeText;
pub use reader::{parse, parse_blob, parse_str, parse_stream, XmlError};
pub use tree::{Attribute, Document, Element, NodeId, NodeKind, NsDecl, TextRef, XML_NS};
