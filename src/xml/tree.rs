//! The document model: an arena of nodes that keeps everything canonicalisation
//! needs (prefixes, namespace declarations as written, attribute order, text,
//! comments, processing instructions).
//!
//! Namespace URIs are resolved once, when a node is parsed or built, and stored
//! beside the prefix; lookups never walk the tree again. The tree does not keep
//! the XML declaration, whitespace outside the document element, or the
//! distinction between CDATA and text: canonical XML drops all three.

use std::sync::Arc;

/// The namespace bound to the `xml` prefix by definition.
pub const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";

/// Index of a node in its [`Document`]. Only meaningful for that document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(u32);

impl NodeId {
    /// The document node, parent of the document element.
    pub const DOCUMENT: NodeId = NodeId(0);

    fn index(self) -> usize {
        self.0 as usize
    }
}

/// A namespace declaration as written on an element.
/// `prefix` is `None` for the default namespace; an empty `uri` undeclares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NsDecl {
    pub prefix: Option<String>,
    pub uri: String,
}

/// An attribute that is not a namespace declaration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    pub prefix: Option<String>,
    pub local: String,
    /// Resolved namespace; unprefixed attributes have none.
    pub ns: Option<Arc<str>>,
    /// Value after attribute-value normalisation and reference expansion.
    pub value: String,
}

impl Attribute {
    /// The qualified name as written.
    pub fn qname(&self) -> String {
        match &self.prefix {
            Some(p) => format!("{p}:{}", self.local),
            None => self.local.clone(),
        }
    }
}

/// An element's own data; children live in the [`Node`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    pub prefix: Option<String>,
    pub local: String,
    /// Resolved namespace of the element name.
    pub ns: Option<Arc<str>>,
    pub namespaces: Vec<NsDecl>,
    pub attributes: Vec<Attribute>,
}

impl Element {
    /// An element in namespace `ns`, declaring `prefix` for it on itself.
    pub fn new_declared(prefix: Option<&str>, local: &str, ns: &str) -> Self {
        Self {
            prefix: prefix.map(str::to_owned),
            local: local.to_owned(),
            ns: Some(Arc::from(ns)),
            namespaces: vec![NsDecl { prefix: prefix.map(str::to_owned), uri: ns.to_owned() }],
            attributes: Vec::new(),
        }
    }

    /// An element in namespace `ns` that relies on `prefix` being declared
    /// by an ancestor.
    pub fn new_inherited(prefix: Option<&str>, local: &str, ns: &str) -> Self {
        Self {
            prefix: prefix.map(str::to_owned),
            local: local.to_owned(),
            ns: Some(Arc::from(ns)),
            namespaces: Vec::new(),
            attributes: Vec::new(),
        }
    }

    pub fn namespace(&self) -> Option<&str> {
        self.ns.as_deref()
    }

    /// True when the element's expanded name is `{ns}local`.
    pub fn is(&self, ns: &str, local: &str) -> bool {
        self.local == local && self.namespace() == Some(ns)
    }

    /// The qualified name as written.
    pub fn qname(&self) -> String {
        match &self.prefix {
            Some(p) => format!("{p}:{}", self.local),
            None => self.local.clone(),
        }
    }

    /// Value of the unqualified attribute `local`.
    pub fn attribute(&self, local: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|a| a.ns.is_none() && a.local == local)
            .map(|a| a.value.as_str())
    }

    /// Value of the attribute `{ns}local`.
    pub fn attribute_ns(&self, ns: &str, local: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|a| a.ns.as_deref() == Some(ns) && a.local == local)
            .map(|a| a.value.as_str())
    }

    /// Adds or replaces an unqualified attribute.
    pub fn set_attribute(&mut self, local: &str, value: &str) {
        match self.attributes.iter_mut().find(|a| a.ns.is_none() && a.local == local) {
            Some(a) => a.value = value.to_owned(),
            None => self.attributes.push(Attribute {
                prefix: None,
                local: local.to_owned(),
                ns: None,
                value: value.to_owned(),
            }),
        }
    }
}

/// A processing instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pi {
    pub target: String,
    pub data: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeKind {
    Document,
    Element(Element),
    Text(String),
    /// Character data too large to hold in memory (see [`super::large_text`]).
    LargeText(super::large_text::LargeText),
    Comment(String),
    Pi(Pi),
}

/// A text node's value, whether held in memory or on disk.
#[derive(Debug, Clone, Copy)]
pub enum TextRef<'a> {
    Inline(&'a str),
    Large(&'a super::large_text::LargeText),
}

impl<'a> TextRef<'a> {
    /// Bytes of the text as stored: exact for inline text, an upper bound
    /// for large text.
    pub fn len_hint(&self) -> usize {
        match self {
            TextRef::Inline(t) => t.len(),
            TextRef::Large(t) => usize::try_from(t.raw_len()).unwrap_or(usize::MAX),
        }
    }

    /// The text of a text node; `None` for other nodes.
    pub fn of(kind: &'a NodeKind) -> Option<TextRef<'a>> {
        match kind {
            NodeKind::Text(t) => Some(TextRef::Inline(t)),
            NodeKind::LargeText(t) => Some(TextRef::Large(t)),
            _ => None,
        }
    }
}

impl<'a> From<&'a str> for TextRef<'a> {
    fn from(s: &'a str) -> Self {
        TextRef::Inline(s)
    }
}

impl<'a> From<&'a String> for TextRef<'a> {
    fn from(s: &'a String) -> Self {
        TextRef::Inline(s)
    }
}

#[derive(Debug, Clone)]
pub struct Node {
    parent: Option<NodeId>,
    children: Vec<NodeId>,
    kind: NodeKind,
}

impl Node {
    pub fn kind(&self) -> &NodeKind {
        &self.kind
    }
    pub fn parent(&self) -> Option<NodeId> {
        self.parent
    }
    pub fn children(&self) -> &[NodeId] {
        &self.children
    }
}

/// A parsed or built XML document.
#[derive(Debug, Clone)]
pub struct Document {
    nodes: Vec<Node>,
}

impl Default for Document {
    fn default() -> Self {
        Self::new()
    }
}

impl Document {
    /// An empty document: just the document node.
    pub fn new() -> Self {
        Self { nodes: vec![Node { parent: None, children: Vec::new(), kind: NodeKind::Document }] }
    }

    /// A document whose document element is `root`.
    pub fn with_root(root: Element) -> (Self, NodeId) {
        let mut doc = Self::new();
        let id = doc.append(NodeId::DOCUMENT, NodeKind::Element(root));
        (doc, id)
    }

    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id.index()]
    }

    pub fn kind(&self, id: NodeId) -> &NodeKind {
        &self.nodes[id.index()].kind
    }

    pub fn children(&self, id: NodeId) -> &[NodeId] {
        &self.nodes[id.index()].children
    }

    pub fn parent(&self, id: NodeId) -> Option<NodeId> {
        self.nodes[id.index()].parent
    }

    pub fn element(&self, id: NodeId) -> Option<&Element> {
        match &self.nodes[id.index()].kind {
            NodeKind::Element(e) => Some(e),
            _ => None,
        }
    }

    pub fn element_mut(&mut self, id: NodeId) -> Option<&mut Element> {
        match &mut self.nodes[id.index()].kind {
            NodeKind::Element(e) => Some(e),
            _ => None,
        }
    }

    /// The single top-level element, if the document has one.
    pub fn document_element(&self) -> Option<NodeId> {
        self.children(NodeId::DOCUMENT)
            .iter()
            .copied()
            .find(|&c| self.element(c).is_some())
    }

    /// Number of nodes ever allocated (detached ones included).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Element children of `id`, in document order.
    pub fn child_elements(&self, id: NodeId) -> impl Iterator<Item = NodeId> + '_ {
        self.children(id).iter().copied().filter(|&c| self.element(c).is_some())
    }

    /// Element children of `id` named `{ns}local`.
    pub fn children_named<'a>(
        &'a self,
        id: NodeId,
        ns: &'a str,
        local: &'a str,
    ) -> impl Iterator<Item = NodeId> + 'a {
        self.child_elements(id).filter(move |&c| self.element(c).is_some_and(|e| e.is(ns, local)))
    }

    /// First element child of `id` named `{ns}local`.
    pub fn child_named(&self, id: NodeId, ns: &str, local: &str) -> Option<NodeId> {
        self.children_named(id, ns, local).next()
    }

    /// `id` and everything below it, in document order.
    pub fn descendants(&self, id: NodeId) -> Descendants<'_> {
        Descendants { doc: self, stack: vec![id] }
    }

    /// True when `ancestor` is `id` or one of its ancestors.
    pub fn is_ancestor_or_self(&self, ancestor: NodeId, mut id: NodeId) -> bool {
        loop {
            if id == ancestor {
                return true;
            }
            match self.parent(id) {
                Some(p) => id = p,
                None => return false,
            }
        }
    }

    /// Concatenated text of all text nodes below `id` (XPath `string()`).
    pub fn text_content(&self, id: NodeId) -> String {
        let mut out = String::new();
        for d in self.descendants(id) {
            match self.kind(d) {
                NodeKind::Text(t) => out.push_str(t),
                // Loading a large text defeats its purpose, but a consumer
                // that did not expect one must still see the right value.
                NodeKind::LargeText(t) => out.push_str(&t.to_string_lossy().unwrap_or_default()),
                _ => {}
            }
        }
        out
    }

    /// Text directly inside `id` when it has no element children;
    /// `None` for an element with element children.
    pub fn simple_text(&self, id: NodeId) -> Option<String> {
        if self.child_elements(id).next().is_some() {
            return None;
        }
        Some(self.text_content(id))
    }

    /// Namespace URI bound to `prefix` (`None` = default) at `id`.
    /// An undeclared default namespace resolves to `None`.
    pub fn lookup_namespace(&self, id: NodeId, prefix: Option<&str>) -> Option<&str> {
        if prefix == Some("xml") {
            return Some(XML_NS);
        }
        let mut cur = Some(id);
        while let Some(n) = cur {
            if let Some(e) = self.element(n) {
                if let Some(d) = e.namespaces.iter().find(|d| d.prefix.as_deref() == prefix) {
                    return if d.uri.is_empty() { None } else { Some(d.uri.as_str()) };
                }
            }
            cur = self.parent(n);
        }
        None
    }

    /// Appends a new node as the last child of `parent`.
    pub fn append(&mut self, parent: NodeId, kind: NodeKind) -> NodeId {
        let index = self.children(parent).len();
        self.insert(parent, index, kind)
    }

    /// Inserts a new node as child number `index` of `parent`.
    pub fn insert(&mut self, parent: NodeId, index: usize, kind: NodeKind) -> NodeId {
        let id = self.alloc(Some(parent), kind);
        self.nodes[parent.index()].children.insert(index, id);
        id
    }

    /// Appends an element with a single text child.
    pub fn append_text_element(&mut self, parent: NodeId, element: Element, text: &str) -> NodeId {
        let id = self.append(parent, NodeKind::Element(element));
        self.append(id, NodeKind::Text(text.to_owned()));
        id
    }

    /// Removes `id` from its parent. The node stays allocated but unreachable.
    pub fn detach(&mut self, id: NodeId) {
        if let Some(p) = self.nodes[id.index()].parent.take() {
            self.nodes[p.index()].children.retain(|&c| c != id);
        }
    }

    /// Removes every child of `id`.
    pub fn clear_children(&mut self, id: NodeId) {
        let children = std::mem::take(&mut self.nodes[id.index()].children);
        for c in children {
            self.nodes[c.index()].parent = None;
        }
    }

    /// Takes the string out of a text node, leaving it empty, so a large
    /// payload can be decoded without holding two copies.
    pub fn take_text(&mut self, id: NodeId) -> Option<String> {
        match &mut self.nodes[id.index()].kind {
            NodeKind::Text(t) => Some(std::mem::take(t)),
            _ => None,
        }
    }

    /// Copies the subtree rooted at `source_node` of `source` into this
    /// document as child number `index` of `parent`; returns the copy's id.
    pub fn graft(&mut self, parent: NodeId, index: usize, source: &Document, source_node: NodeId) -> NodeId {
        let top = self.insert(parent, index, source.kind(source_node).clone());
        let mut stack = vec![(source_node, top)];
        while let Some((from, to)) = stack.pop() {
            for &child in source.children(from) {
                let copy = self.append(to, source.kind(child).clone());
                stack.push((child, copy));
            }
        }
        top
    }

    /// Moves the whole content of `source` (its top-level nodes) under
    /// `parent` at `index`, consuming it. Cheaper than [`Self::graft`] for big
    /// documents because strings are moved, not copied.
    pub fn adopt(&mut self, parent: NodeId, index: usize, mut source: Document) -> Vec<NodeId> {
        let offset = self.nodes.len() as u32 - 1;
        let top: Vec<NodeId> = source.nodes[0].children.iter().map(|c| NodeId(c.0 + offset)).collect();
        for node in source.nodes.drain(1..) {
            let parent_id = match node.parent {
                Some(NodeId(0)) => parent,
                Some(p) => NodeId(p.0 + offset),
                None => parent,
            };
            self.nodes.push(Node {
                parent: Some(parent_id),
                children: node.children.iter().map(|c| NodeId(c.0 + offset)).collect(),
                kind: node.kind,
            });
        }
        let siblings = &mut self.nodes[parent.index()].children;
        let at = index.min(siblings.len());
        siblings.splice(at..at, top.iter().copied());
        top
    }

    fn alloc(&mut self, parent: Option<NodeId>, kind: NodeKind) -> NodeId {
        let id = NodeId(u32::try_from(self.nodes.len()).expect("node count fits u32 (bounded by XmlLimits)"));
        self.nodes.push(Node { parent, children: Vec::new(), kind });
        id
    }
}

/// Pre-order iterator over a subtree.
pub struct Descendants<'a> {
    doc: &'a Document,
    stack: Vec<NodeId>,
}

impl Iterator for Descendants<'_> {
    type Item = NodeId;
    fn next(&mut self) -> Option<NodeId> {
        let id = self.stack.pop()?;
        self.stack.extend(self.doc.children(id).iter().rev().copied());
        Some(id)
    }
}
