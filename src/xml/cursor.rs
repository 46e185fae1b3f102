//! Reading an element's children in schema order, strictly: the one cursor
//! the XML-security and AS4 readers share. Whitespace text, comments and
//! processing instructions between elements are skipped; other text is
//! refused; whatever is not consumed is refused by [`ChildCursor::finish`].

use super::tree::{Document, NodeId, NodeKind};

/// What did not match the expected sequence. Each layer maps it into its
/// own error type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CursorError {
    #[error("unexpected text in {parent}")]
    UnexpectedText { parent: &'static str },
    #[error("{parent} lacks {child}")]
    Missing { parent: &'static str, child: &'static str },
    #[error("unexpected {found} in {parent}")]
    Unexpected { parent: &'static str, found: String },
    #[error("{parent} has more than {max} {child}")]
    TooMany { parent: &'static str, child: &'static str, max: usize },
}

/// The element children of one node, consumed in order.
pub struct ChildCursor<'d> {
    doc: &'d Document,
    ids: Vec<NodeId>,
    next: usize,
    parent: &'static str,
}

impl<'d> ChildCursor<'d> {
    /// `parent` names the element in errors.
    pub fn new(doc: &'d Document, id: NodeId, parent: &'static str) -> Result<Self, CursorError> {
        let mut ids = Vec::new();
        for &child in doc.children(id) {
            match doc.kind(child) {
                NodeKind::Element(_) => ids.push(child),
                NodeKind::Text(t) if !t.bytes().all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r')) => {
                    return Err(CursorError::UnexpectedText { parent })
                }
                _ => {}
            }
        }
        Ok(Self { doc, ids, next: 0, parent })
    }

    /// The next child if it is `{ns}local`.
    pub fn optional(&mut self, ns: &str, local: &str) -> Option<NodeId> {
        let id = *self.ids.get(self.next)?;
        self.doc.element(id).filter(|e| e.is(ns, local))?;
        self.next += 1;
        Some(id)
    }

    pub fn required(&mut self, ns: &str, local: &'static str) -> Result<NodeId, CursorError> {
        self.optional(ns, local).ok_or(CursorError::Missing { parent: self.parent, child: local })
    }

    /// The following children named `{ns}local`: at least one, at most `max`.
    pub fn repeated(&mut self, ns: &str, local: &'static str, max: usize) -> Result<Vec<NodeId>, CursorError> {
        let mut out = Vec::new();
        while let Some(id) = self.optional(ns, local) {
            if out.len() == max {
                return Err(CursorError::TooMany { parent: self.parent, child: local, max });
            }
            out.push(id);
        }
        if out.is_empty() {
            return Err(CursorError::Missing { parent: self.parent, child: local });
        }
        Ok(out)
    }

    /// The children not consumed yet, in order.
    pub fn rest(&self) -> &[NodeId] {
        &self.ids[self.next..]
    }

    /// Refuses whatever was not consumed.
    pub fn finish(self) -> Result<(), CursorError> {
        match self.ids.get(self.next) {
            None => Ok(()),
            Some(&id) => Err(CursorError::Unexpected {
                parent: self.parent,
                found: self.doc.element(id).map(|e| e.qname()).unwrap_or_default(),
            }),
        }
    }
}
