//! Writing a document's XML form from JSON without checking it: for tests
//! and the demo, which must send what a careless system would, to show
//! that the receiving node rejects it.
//!
//! Elements follow the schema's order, taken from the kind's example;
//! names the example does not have are written after the known ones.

use std::fmt::Write;

use serde_json::{Map, Value};

use super::form::{escape, Out, OutObj};
use super::{example, DocumentKind, SCHEMA_VERSION};

/// The XML form of `value`, a document of `kind` in its JSON form, as it
/// is: no field is checked, nothing is added.
pub fn unchecked_xml(kind: DocumentKind, value: &Value) -> Result<Vec<u8>, String> {
    let object = value.as_object().ok_or("a document is a JSON object")?;
    let template = example(kind).out();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = write!(out, "<{} xmlns=\"{}\" schemaVersion=\"{SCHEMA_VERSION}\">", kind.root_name(), escape(kind.namespace(), true));
    let mut fields: Map<String, Value> = object.clone();
    fields.remove("documentType");
    fields.remove("schemaVersion");
    write_object(&mut out, &fields, Some(&template));
    let _ = writeln!(out, "</{}>", kind.root_name());
    Ok(out.into_bytes())
}

fn write_object(out: &mut String, fields: &Map<String, Value>, template: Option<&OutObj>) {
    let known: Vec<&str> = template.map(|t| t.0.iter().map(|(name, _)| *name).collect()).unwrap_or_default();
    let mut names: Vec<&String> = fields.keys().collect();
    // Schema order for the names the template knows, then the rest.
    names.sort_by_key(|name| known.iter().position(|k| k == name).unwrap_or(usize::MAX));
    for name in names {
        let sub = template.and_then(|t| t.0.iter().find(|(n, _)| n == name)).map(|(_, out)| out);
        write_value(out, name, &fields[name.as_str()], sub);
    }
}

fn write_value(out: &mut String, name: &str, value: &Value, template: Option<&Out>) {
    match value {
        Value::Null => {}
        Value::Object(o) if o.contains_key("root") && o.contains_key("extension") && o.len() == 2 => {
            let attribute = |key: &str| escape(o[key].as_str().unwrap_or_default(), true);
            let _ = write!(out, "<{name} root=\"{}\" extension=\"{}\"/>", attribute("root"), attribute("extension"));
        }
        Value::Object(o) => {
            let sub = match template {
                Some(Out::Obj(obj)) => Some(obj),
                _ => None,
            };
            let _ = write!(out, "<{name}>");
            write_object(out, o, sub);
            let _ = write!(out, "</{name}>");
        }
        Value::Array(items) => {
            let (item_name, item_template) = match template {
                Some(Out::List(item, entries)) => (*item, entries.first()),
                _ => ("item", None),
            };
            let _ = write!(out, "<{name}>");
            for item in items {
                write_value(out, item_name, item, item_template);
            }
            let _ = write!(out, "</{name}>");
        }
        Value::String(s) if matches!(template, Some(Out::Person(_))) => {
            // A person id given as a plain string: the OID is left to the reader.
            let _ = write!(out, "<{name} extension=\"{}\"/>", escape(s, true));
        }
        Value::String(s) => {
            let _ = write!(out, "<{name}>{}</{name}>", escape(s, false));
        }
        other => {
            let _ = write!(out, "<{name}>{other}</{name}>");
        }
    }
}
