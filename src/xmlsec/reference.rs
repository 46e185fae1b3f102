//! Resolving `Reference/@URI` to the node it signs: the signature-wrapping
//! defence.
//!
//! IDs are collected once over the whole document into a strict registry.
//! A value that appears on two elements is refused outright, never resolved
//! to "the first one": that ambiguity is how wrapping attacks move a signed
//! element aside and put a forged one where the application looks.

use std::collections::HashMap;

use crate::xml::{Document, NodeId, XML_NS};

/// Namespace of `wsu:Id`, the ID attribute of WS-Security (the AS4 layer).
pub const WSU_NS: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    #[error("ID '{0}' is used by more than one element")]
    DuplicateId(String),
    #[error("no element has ID '{0}'")]
    UnknownId(String),
    #[error("reference URI '{0}' is not supported (only \"\" and \"#id\")")]
    UnsupportedUri(String),
}

/// Every element ID in a document, each known to be unique.
#[derive(Debug)]
pub struct IdRegistry {
    ids: HashMap<String, NodeId>,
}

impl IdRegistry {
    /// Collects `Id`, `ID`, `id`, `wsu:Id` and `xml:id` attributes.
    pub fn build(doc: &Document) -> Result<Self, ReferenceError> {
        let mut ids = HashMap::new();
        for node in doc.descendants(NodeId::DOCUMENT) {
            let Some(e) = doc.element(node) else { continue };
            for a in &e.attributes {
                let is_id = match a.ns.as_deref() {
                    None => matches!(a.local.as_str(), "Id" | "ID" | "id"),
                    Some(WSU_NS) => a.local == "Id",
                    Some(XML_NS) => a.local == "id",
                    Some(_) => false,
                };
                if is_id && ids.insert(a.value.clone(), node).is_some() {
                    return Err(ReferenceError::DuplicateId(a.value.clone()));
                }
            }
        }
        Ok(Self { ids })
    }

    pub fn get(&self, id: &str) -> Result<NodeId, ReferenceError> {
        self.ids.get(id).copied().ok_or_else(|| ReferenceError::UnknownId(id.to_owned()))
    }

    /// Resolves a same-document reference: `""` is the whole document,
    /// `#id` the element with that ID.
    pub fn resolve(&self, uri: &str) -> Result<NodeId, ReferenceError> {
        if uri.is_empty() {
            return Ok(NodeId::DOCUMENT);
        }
        match uri.strip_prefix('#') {
            Some(id) if !id.is_empty() && !id.starts_with("xpointer(") => self.get(id),
            _ => Err(ReferenceError::UnsupportedUri(uri.to_owned())),
        }
    }
}
