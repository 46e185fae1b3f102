//! The pilot documents: schemas, examples, round trips and field issues.

use std::path::{Path, PathBuf};
use std::process::Command;

use brygga::pilot::{example, DocumentKind, PilotDocument};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn example_file(kind: DocumentKind) -> PathBuf {
    repo(&format!("examples/pilot/{}.xml", kind.as_str()))
}

/// `BRYGGA_WRITE_PILOT_EXAMPLES=1 cargo test --test pilot_documents` rewrites the committed examples.
#[test]
fn committed_examples_are_the_rust_examples() {
    let write = std::env::var_os("BRYGGA_WRITE_PILOT_EXAMPLES").is_some();
    for kind in DocumentKind::ALL {
        let xml = example(kind).to_xml();
        let path = example_file(kind);
        if write {
            std::fs::write(&path, &xml).unwrap();
        }
        let committed = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(String::from_utf8_lossy(&committed), String::from_utf8_lossy(&xml), "{}", path.display());
        let json_path = path.with_extension("json");
        let json = serde_json::to_string_pretty(&example(kind).to_json()).unwrap() + "\n";
        if write {
            std::fs::write(&json_path, &json).unwrap();
        }
        assert_eq!(std::fs::read_to_string(&json_path).unwrap(), json, "{}", json_path.display());
    }
}
