//! One reader and one writer for both forms of a pilot document.
//!
//! The JSON and XML forms have the same structure and the same names
//! (camelCase; a list is a JSON array, in XML a wrapper element holding one
//! element per entry), so each document type describes its fields once and
//! both forms go through the same validation. The reader records every
//! problem as a [`FieldIssue`] and keeps going, so a sender learns of all
//! problems at once; anything a schema does not name is refused.

use std::fmt::Write as _;

use serde_json::{Map, Value};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use super::ids::IdError;
use super::issue::{IssueRule, Issues};
use crate::audit::person::{PersonId, PersonIdError, OID_PERSONNUMMER, OID_SAMORDNINGSNUMMER};
use crate::xml::{Document, NodeId, NodeKind};

/// Whether a field must be there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Need {
    Required,
    Optional,
}
pub(crate) use Need::{Optional as OPT, Required as REQ};

/// A closed set of upper-case codes (urgency, reply type, ...).
pub(crate) trait Choice: Sized + Copy {
    const ALL: &'static [&'static str];
    fn from_code(code: &str) -> Option<Self>;
}

/// Defines a closed enumeration with its wire codes.
macro_rules! choice {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $code:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name { $($(#[$vmeta])* $variant),+ }
        impl $name {
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $code),+ }
            }
        }
        impl $crate::pilot::form::Choice for $name {
            const ALL: &'static [&'static str] = &[$($code),+];
            fn from_code(code: &str) -> Option<Self> {
                match code { $($code => Some(Self::$variant),)+ _ => None }
            }
        }
    };
}
pub(crate) use choice;

/// Phone numbers: `+?[0-9 -]{5,20}` (the XSD has the same pattern).
fn phone_ok(text: &str) -> bool {
    let digits = text.strip_prefix('+').unwrap_or(text);
    (5..=20).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit() || b == b' ' || b == b'-')
}

/// A field name fit to appear in a pointer: a name this schema could have.
/// Anything else (a key that could itself carry data) is shown as `(unknown)`.
fn safe_name(name: &str) -> &str {
    let ok = (1..=64).contains(&name.len())
        && name.as_bytes()[0].is_ascii_alphabetic()
        && name.bytes().all(|b| b.is_ascii_alphanumeric());
    if ok {
        name
    } else {
        "(unknown)"
    }
}

#[derive(Clone, Copy)]
enum Source<'a> {
    Json(&'a Value),
    Xml { doc: &'a Document, id: NodeId, ns: &'a str },
}

/// One located field, not yet interpreted.
pub(crate) struct Field<'a> {
    source: Source<'a>,
    pub pointer: String,
}

/// One object (JSON object or XML element with element children) being read.
pub(crate) struct Obj<'a> {
    source: Source<'a>,
    pub pointer: String,
    seen: Vec<&'static str>,
    allowed_attributes: &'static [&'static str],
}

impl<'a> Obj<'a> {
    /// The top of a JSON document; `None` (with an issue) when it is not an object.
    pub fn json_root(value: &'a Value, issues: &mut Issues) -> Option<Self> {
        Field { source: Source::Json(value), pointer: String::new() }.object(issues)
    }

    /// The root element of an XML document in namespace `ns`.
    pub fn xml_root(doc: &'a Document, id: NodeId, ns: &'a str, allowed_attributes: &'static [&'static str]) -> Self {
        Self { source: Source::Xml { doc, id, ns }, pointer: String::new(), seen: Vec::new(), allowed_attributes }
    }

    pub fn pointer_of(&self, name: &str) -> String {
        format!("{}/{}", self.pointer, name)
    }

    pub fn is_json(&self) -> bool {
        matches!(self.source, Source::Json(_))
    }

    /// An attribute of the XML element (the root's `schemaVersion`).
    pub fn xml_attribute(&self, name: &str) -> Option<&'a str> {
        match self.source {
            Source::Xml { doc, id, .. } => doc.element(id).and_then(|e| e.attribute(name)),
            Source::Json(_) => None,
        }
    }

    /// The field `name`, marking it as known. JSON `null` counts as absent.
    pub fn get(&mut self, name: &'static str, issues: &mut Issues) -> Option<Field<'a>> {
        self.seen.push(name);
        let pointer = self.pointer_of(name);
        match self.source {
            Source::Json(value) => match value.get(name) {
                None | Some(Value::Null) => None,
                Some(v) => Some(Field { source: Source::Json(v), pointer }),
            },
            Source::Xml { doc, id, ns } => {
                let mut matching = doc.children_named(id, ns, name);
                let first = matching.next()?;
                if matching.next().is_some() {
                    issues.error(&pointer, IssueRule::NotAllowed, "appears more than once");
                }
                Some(Field { source: Source::Xml { doc, id: first, ns }, pointer })
            }
        }
    }

    /// Whether the field is there at all (valid or not), without marking it.
    pub fn has(&self, name: &str) -> bool {
        match self.source {
            Source::Json(value) => value.get(name).is_some_and(|v| !v.is_null()),
            Source::Xml { doc, id, ns } => doc.child_named(id, ns, name).is_some(),
        }
    }

    /// Refuses whatever the reader did not ask for: the schema is closed.
    pub fn finish(self, issues: &mut Issues) {
        match self.source {
            Source::Json(Value::Object(map)) => {
                for key in map.keys().filter(|k| !self.seen.contains(&k.as_str())) {
                    let pointer = format!("{}/{}", self.pointer, safe_name(key));
                    issues.error(&pointer, IssueRule::NotAllowed, "is not a field of this document");
                }
            }
            Source::Json(_) => {}
            Source::Xml { doc, id, ns } => {
                check_xml_extras(doc, id, &self.pointer, self.allowed_attributes, issues);
                // Readers ask for fields in schema order, so `seen` is that order.
                let mut last_position = 0;
                for child in doc.child_elements(id) {
                    let Some(element) = doc.element(child) else { continue };
                    let position = self.seen.iter().position(|s| *s == element.local);
                    let pointer = format!("{}/{}", self.pointer, safe_name(&element.local));
                    match position {
                        Some(p) if element.namespace() == Some(ns) => {
                            if p < last_position {
                                issues.error(&pointer, IssueRule::NotAllowed, "is out of the schema's order");
                            }
                            last_position = last_position.max(p);
                        }
                        _ => issues.error(&pointer, IssueRule::NotAllowed, "is not an element of this document"),
                    }
                }
            }
        }
    }

    pub fn text(&mut self, name: &'static str, need: Need, max_chars: usize, issues: &mut Issues) -> Option<String> {
        let field = self.present(name, need, issues)?;
        let text = field.text(issues)?;
        if text.trim().is_empty() {
            issues.error(&field.pointer, IssueRule::Missing, "must not be empty");
            return None;
        }
        if text.chars().count() > max_chars {
            issues.error(&field.pointer, IssueRule::TooLong, format_args!("is longer than {max_chars} characters"));
            return None;
        }
        Some(text)
    }

    /// A text field with a typed meaning, checked by `parse`.
    pub fn id<T>(
        &mut self,
        name: &'static str,
        need: Need,
        what: &str,
        parse: fn(&str) -> Result<T, IdError>,
        issues: &mut Issues,
    ) -> Option<T> {
        let field = self.present(name, need, issues)?;
        let text = field.text(issues)?;
        match parse(&text) {
            Ok(value) => Some(value),
            Err(e) => {
                let rule = match e {
                    IdError::CheckDigit => IssueRule::CheckDigit,
                    IdError::TooLong => IssueRule::TooLong,
                    IdError::Malformed | IdError::NotAnOrganisation => IssueRule::Invalid,
                };
                issues.error(&field.pointer, rule, format_args!("{what} {e}"));
                None
            }
        }
    }

    pub fn phone(&mut self, name: &'static str, need: Need, issues: &mut Issues) -> Option<String> {
        let field = self.present(name, need, issues)?;
        let text = field.text(issues)?;
        if phone_ok(&text) {
            Some(text)
        } else {
            issues.error(
                &field.pointer,
                IssueRule::Invalid,
                "phone number must be digits, spaces or hyphens (5 to 20), optionally after +",
            );
            None
        }
    }

    pub fn uuid(&mut self, name: &'static str, need: Need, issues: &mut Issues) -> Option<Uuid> {
        let field = self.present(name, need, issues)?;
        let text = field.text(issues)?;
        // Only the hyphenated form, which the XSD pattern also requires.
        match Uuid::try_parse(&text) {
            Ok(id) if text.len() == 36 => Some(id),
            _ => {
                issues.error(&field.pointer, IssueRule::Invalid, "must be a UUID (8-4-4-4-12 hexadecimal digits)");
                None
            }
        }
    }

    pub fn datetime(&mut self, name: &'static str, need: Need, issues: &mut Issues) -> Option<OffsetDateTime> {
        let field = self.present(name, need, issues)?;
        let text = field.text(issues)?;
        let parsed = OffsetDateTime::parse(&text, &Rfc3339)
            .ok()
            .filter(|t| text.as_bytes().get(10) == Some(&b'T') && text.ends_with('Z') && t.offset().is_utc());
        if parsed.is_none() {
            issues.error(&field.pointer, IssueRule::Invalid, "must be a UTC time YYYY-MM-DDThh:mm:ss[.fraction]Z");
        }
        parsed
    }

    pub fn date(&mut self, name: &'static str, need: Need, issues: &mut Issues) -> Option<Date> {
        let field = self.present(name, need, issues)?;
        let text = field.text(issues)?;
        let parsed = Date::parse(&text, format_description!("[year]-[month]-[day]")).ok().filter(|_| text.len() == 10);
        if parsed.is_none() {
            issues.error(&field.pointer, IssueRule::Invalid, "must be a date YYYY-MM-DD");
        }
        parsed
    }

    pub fn choice<T: Choice>(&mut self, name: &'static str, need: Need, issues: &mut Issues) -> Option<T> {
        let field = self.present(name, need, issues)?;
        let text = field.text(issues)?;
        let parsed = T::from_code(&text);
        if parsed.is_none() {
            issues.error(&field.pointer, IssueRule::Invalid, format_args!("must be one of {}", T::ALL.join(", ")));
        }
        parsed
    }

    pub fn bool(&mut self, name: &'static str, need: Need, issues: &mut Issues) -> Option<bool> {
        self.present(name, need, issues)?.bool(issues)
    }

    pub fn u32(&mut self, name: &'static str, need: Need, issues: &mut Issues) -> Option<u32> {
        self.present(name, need, issues)?.u32(issues)
    }

    pub fn person(&mut self, name: &'static str, need: Need, issues: &mut Issues) -> Option<PersonId> {
        self.present(name, need, issues)?.person(issues)
    }

    /// A nested object read by `read`; unknown fields inside are refused.
    pub fn object<T>(
        &mut self,
        name: &'static str,
        need: Need,
        issues: &mut Issues,
        read: impl FnOnce(&mut Obj<'a>, &mut Issues) -> Option<T>,
    ) -> Option<T> {
        let mut obj = self.present(name, need, issues)?.object(issues)?;
        let value = read(&mut obj, issues);
        obj.finish(issues);
        value
    }

    /// A list of at most `max` entries, each read by `read`. A required list
    /// must have at least one entry. `None` when any entry failed.
    pub fn list<T>(
        &mut self,
        name: &'static str,
        item: &'static str,
        need: Need,
        max: usize,
        issues: &mut Issues,
        mut read: impl FnMut(Field<'a>, &mut Issues) -> Option<T>,
    ) -> Option<Vec<T>> {
        let field = self.present(name, need, issues)?;
        let pointer = field.pointer.clone();
        let is_xml = matches!(field.source, Source::Xml { .. });
        let entries = field.entries(item, issues)?;
        // An empty optional list is fine in JSON; the XML schema wants it left out.
        if entries.is_empty() && (need == REQ || is_xml) {
            issues.error(&pointer, IssueRule::Missing, "needs at least one entry");
            return None;
        }
        if entries.len() > max {
            issues.error(&pointer, IssueRule::TooLong, format_args!("has more than {max} entries"));
            return None;
        }
        let mut values = Vec::with_capacity(entries.len());
        let mut all_read = true;
        for entry in entries {
            match read(entry, issues) {
                Some(v) => values.push(v),
                None => all_read = false,
            }
        }
        all_read.then_some(values)
    }

    fn present(&mut self, name: &'static str, need: Need, issues: &mut Issues) -> Option<Field<'a>> {
        let field = self.get(name, issues);
        if field.is_none() && need == REQ {
            issues.error(&self.pointer_of(name), IssueRule::Missing, "is required");
        }
        field
    }
}

impl<'a> Field<'a> {
    pub fn text(&self, issues: &mut Issues) -> Option<String> {
        let text = match self.source {
            Source::Json(Value::String(s)) => Some(s.clone()),
            Source::Json(_) => None,
            Source::Xml { doc, id, .. } => {
                let plain = doc.element(id).is_some_and(|e| e.attributes.is_empty());
                if plain {
                    doc.simple_text(id)
                } else {
                    None
                }
            }
        };
        if text.is_none() {
            issues.error(&self.pointer, IssueRule::Invalid, "must be text");
        }
        text
    }

    pub fn bool(&self, issues: &mut Issues) -> Option<bool> {
        let value = match self.source {
            Source::Json(Value::Bool(b)) => Some(*b),
            Source::Json(_) => None,
            // xs:boolean's four spellings.
            Source::Xml { .. } => match self.text(&mut Issues::default()).as_deref().map(str::trim) {
                Some("true" | "1") => Some(true),
                Some("false" | "0") => Some(false),
                _ => None,
            },
        };
        if value.is_none() {
            issues.error(&self.pointer, IssueRule::Invalid, "must be true or false");
        }
        value
    }

    pub fn u32(&self, issues: &mut Issues) -> Option<u32> {
        let value = match self.source {
            Source::Json(v) => v.as_u64().and_then(|n| u32::try_from(n).ok()),
            Source::Xml { .. } => self
                .text(&mut Issues::default())
                .filter(|t| !t.is_empty() && t.len() <= 10 && t.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|t| t.parse().ok()),
        };
        if value.is_none() {
            issues.error(&self.pointer, IssueRule::Invalid, "must be a whole number");
        }
        value
    }

    pub fn object(self, issues: &mut Issues) -> Option<Obj<'a>> {
        let is_object = match self.source {
            Source::Json(v) => v.is_object(),
            Source::Xml { .. } => true,
        };
        if !is_object {
            issues.error(&self.pointer, IssueRule::Invalid, "must be an object");
            return None;
        }
        Some(Obj { source: self.source, pointer: self.pointer, seen: Vec::new(), allowed_attributes: &[] })
    }

    /// The entries of a list: a JSON array, or the `item` children of an XML element.
    fn entries(self, item: &'static str, issues: &mut Issues) -> Option<Vec<Field<'a>>> {
        match self.source {
            Source::Json(Value::Array(values)) => Some(
                values
                    .iter()
                    .enumerate()
                    .map(|(i, v)| Field { source: Source::Json(v), pointer: format!("{}/{i}", self.pointer) })
                    .collect(),
            ),
            Source::Json(_) => {
                issues.error(&self.pointer, IssueRule::Invalid, "must be a list");
                None
            }
            Source::Xml { doc, id, ns } => {
                check_xml_extras(doc, id, &self.pointer, &[], issues);
                let mut entries = Vec::new();
                for child in doc.child_elements(id) {
                    if doc.element(child).is_some_and(|e| e.is(ns, item)) {
                        let pointer = format!("{}/{}", self.pointer, entries.len());
                        entries.push(Field { source: Source::Xml { doc, id: child, ns }, pointer });
                    } else {
                        let name = doc.element(child).map_or("", |e| e.local.as_str());
                        let pointer = format!("{}/{}", self.pointer, safe_name(name));
                        issues.error(
                            &pointer,
                            IssueRule::NotAllowed,
                            format_args!("only {item} entries belong in this list"),
                        );
                    }
                }
                Some(entries)
            }
        }
    }

    /// A person identifier: JSON `{"root": OID, "extension": value}` or a
    /// plain personnummer string; XML `<x root=".." extension=".."/>`.
    pub fn person(&self, issues: &mut Issues) -> Option<PersonId> {
        let parts: Option<(String, String)> = match self.source {
            Source::Json(Value::String(s)) => return parse_person(None, s, &self.pointer, issues),
            Source::Json(Value::Object(map)) => {
                for key in map.keys().filter(|k| *k != "root" && *k != "extension") {
                    let pointer = format!("{}/{}", self.pointer, safe_name(key));
                    issues.error(&pointer, IssueRule::NotAllowed, "a person id has only root and extension");
                }
                match (map.get("root"), map.get("extension")) {
                    (Some(Value::String(r)), Some(Value::String(e))) => Some((r.clone(), e.clone())),
                    _ => None,
                }
            }
            Source::Json(_) => None,
            Source::Xml { doc, id, .. } => {
                check_xml_extras(doc, id, &self.pointer, &["root", "extension"], issues);
                if doc.child_elements(id).next().is_some() {
                    issues.error(&self.pointer, IssueRule::NotAllowed, "a person id has no child elements");
                }
                let element = doc.element(id)?;
                element.attribute("root").zip(element.attribute("extension")).map(|(r, e)| (r.to_owned(), e.to_owned()))
            }
        };
        match parts {
            Some((root, extension)) => parse_person(Some(&root), &extension, &self.pointer, issues),
            None => {
                issues.error(&self.pointer, IssueRule::Invalid, "person id needs root (OID) and extension (value)");
                None
            }
        }
    }
}

fn parse_person(root: Option<&str>, extension: &str, pointer: &str, issues: &mut Issues) -> Option<PersonId> {
    let parsed = match root {
        None => PersonId::parse(extension),
        Some(oid @ (OID_PERSONNUMMER | OID_SAMORDNINGSNUMMER)) => {
            // The extension must be the 12 digits; the OID says which kind it is.
            PersonId::parse(extension)
                .and_then(|id| if id.oid() == oid { Ok(id) } else { Err(PersonIdError::InvalidDate) })
        }
        Some(oid) => PersonId::reserve(oid, extension),
    };
    match parsed {
        Ok(id) => Some(id),
        Err(e) => {
            let rule = if e == PersonIdError::CheckDigit { IssueRule::CheckDigit } else { IssueRule::Invalid };
            issues.error(pointer, rule, format_args!("person id: {e}"));
            None
        }
    }
}

/// Attributes other than `allowed` and non-blank text beside elements.
fn check_xml_extras(doc: &Document, id: NodeId, pointer: &str, allowed: &[&str], issues: &mut Issues) {
    if let Some(element) = doc.element(id) {
        for attribute in &element.attributes {
            if attribute.ns.is_some() || !allowed.contains(&attribute.local.as_str()) {
                let pointer = format!("{pointer}/@{}", safe_name(&attribute.local));
                issues.error(&pointer, IssueRule::NotAllowed, "attribute is not allowed here");
            }
        }
    }
    let stray_text = doc.children(id).iter().any(|c| match doc.kind(*c) {
        NodeKind::Text(t) => !t.trim().is_empty(),
        NodeKind::LargeText(_) => true,
        _ => false,
    });
    if stray_text {
        issues.error(pointer, IssueRule::NotAllowed, "text is not allowed beside elements");
    }
}

/// A document (or part) ready to be written in either form, in schema order.
#[derive(Debug, Clone)]
pub(crate) enum Out {
    Text(String),
    Bool(bool),
    Int(u32),
    Obj(OutObj),
    List(&'static str, Vec<Out>),
    Person(PersonId),
}

#[derive(Debug, Clone, Default)]
pub(crate) struct OutObj(pub Vec<(&'static str, Out)>);

impl OutObj {
    pub fn text(&mut self, name: &'static str, value: impl Into<String>) {
        self.0.push((name, Out::Text(value.into())));
    }

    pub fn opt_text(&mut self, name: &'static str, value: Option<&str>) {
        if let Some(v) = value {
            self.text(name, v);
        }
    }

    pub fn bool(&mut self, name: &'static str, value: bool) {
        self.0.push((name, Out::Bool(value)));
    }

    pub fn opt_bool(&mut self, name: &'static str, value: Option<bool>) {
        if let Some(v) = value {
            self.bool(name, v);
        }
    }

    pub fn int(&mut self, name: &'static str, value: u32) {
        self.0.push((name, Out::Int(value)));
    }

    pub fn datetime(&mut self, name: &'static str, value: &OffsetDateTime) {
        self.text(name, format_datetime(value));
    }

    pub fn opt_datetime(&mut self, name: &'static str, value: Option<&OffsetDateTime>) {
        if let Some(v) = value {
            self.datetime(name, v);
        }
    }

    pub fn date(&mut self, name: &'static str, value: Date) {
        self.text(name, format_date(value));
    }

    pub fn opt_date(&mut self, name: &'static str, value: Option<Date>) {
        if let Some(v) = value {
            self.date(name, v);
        }
    }

    pub fn object(&mut self, name: &'static str, value: OutObj) {
        self.0.push((name, Out::Obj(value)));
    }

    pub fn list(&mut self, name: &'static str, item: &'static str, entries: Vec<Out>) {
        if !entries.is_empty() {
            self.0.push((name, Out::List(item, entries)));
        }
    }

    pub fn person(&mut self, name: &'static str, value: &PersonId) {
        self.0.push((name, Out::Person(value.clone())));
    }
}

pub(crate) fn format_datetime(value: &OffsetDateTime) -> String {
    value.format(&Rfc3339).unwrap_or_default()
}

pub(crate) fn format_date(value: Date) -> String {
    value.format(format_description!("[year]-[month]-[day]")).unwrap_or_default()
}

impl Out {
    pub fn to_json(&self) -> Value {
        match self {
            Out::Text(t) => Value::String(t.clone()),
            Out::Bool(b) => Value::Bool(*b),
            Out::Int(n) => Value::from(*n),
            Out::Obj(obj) => Value::Object(obj.to_json_map()),
            Out::List(_, entries) => Value::Array(entries.iter().map(Out::to_json).collect()),
            Out::Person(id) => serde_json::json!({ "root": id.oid(), "extension": id.value() }),
        }
    }
}

impl OutObj {
    pub fn to_json_map(&self) -> Map<String, Value> {
        self.0.iter().map(|(name, value)| ((*name).to_owned(), value.to_json())).collect()
    }

    /// The whole document as XML: `root` in namespace `ns` with the schema version attribute.
    pub fn to_xml(&self, root: &str, ns: &str, schema_version: &str) -> Vec<u8> {
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ =
            write!(out, "<{root} xmlns=\"{}\" schemaVersion=\"{}\">", escape(ns, true), escape(schema_version, true));
        self.write_children(&mut out, 1);
        let _ = writeln!(out, "\n</{root}>");
        out.into_bytes()
    }

    fn write_children(&self, out: &mut String, depth: usize) {
        for (name, value) in &self.0 {
            write_element(out, name, value, depth);
        }
    }
}

fn write_element(out: &mut String, name: &str, value: &Out, depth: usize) {
    let indent = "  ".repeat(depth);
    match value {
        Out::Text(t) => {
            let _ = write!(out, "\n{indent}<{name}>{}</{name}>", escape(t, false));
        }
        Out::Bool(b) => {
            let _ = write!(out, "\n{indent}<{name}>{b}</{name}>");
        }
        Out::Int(n) => {
            let _ = write!(out, "\n{indent}<{name}>{n}</{name}>");
        }
        Out::Person(id) => {
            let _ = write!(
                out,
                "\n{indent}<{name} root=\"{}\" extension=\"{}\"/>",
                escape(id.oid(), true),
                escape(id.value(), true)
            );
        }
        Out::Obj(obj) => {
            let _ = write!(out, "\n{indent}<{name}>");
            obj.write_children(out, depth + 1);
            let _ = write!(out, "\n{indent}</{name}>");
        }
        Out::List(item, entries) => {
            let _ = write!(out, "\n{indent}<{name}>");
            for entry in entries {
                write_element(out, item, entry, depth + 1);
            }
            let _ = write!(out, "\n{indent}</{name}>");
        }
    }
}

/// Escapes for element text or (with `attribute`) a double-quoted attribute;
/// CR, and in attributes TAB and LF, as character references so that a
/// parser gives back exactly the same text.
pub(crate) fn escape(text: &str, attribute: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attribute => out.push_str("&quot;"),
            '\r' => out.push_str("&#13;"),
            '\n' if attribute => out.push_str("&#10;"),
            '\t' if attribute => out.push_str("&#9;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers() {
        for ok in ["+46 8 123 456 78", "08-123 45", "0701234567"] {
            assert!(phone_ok(ok), "{ok}");
        }
        for bad in ["1234", "+46 (8) 123", "123456789012345678901", "++46812345"] {
            assert!(!phone_ok(bad), "{bad}");
        }
    }

    #[test]
    fn odd_keys_do_not_reach_pointers() {
        assert_eq!(safe_name("guardians"), "guardians");
        assert_eq!(safe_name("19121212-1212"), "(unknown)");
        assert_eq!(safe_name(""), "(unknown)");
    }

    #[test]
    fn escaping_keeps_text_intact() {
        assert_eq!(escape("a<b>&\"c\"\r\n", false), "a&lt;b&gt;&amp;\"c\"&#13;\n");
        assert_eq!(escape("x\"\t\n", true), "x&quot;&#9;&#10;");
    }
}
