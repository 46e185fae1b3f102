//! Canonicalisation interop test against the stored vectors in
//! `tests/vectors/c14n/` (produced by xmllint / lxml, see the README there).
//!
//! For every line of `MANIFEST.tsv` the binary is run as
//! `brygga xml c14n [--exclusive] [--with-comments] [--inclusive-prefixes "p1 p2"]
//! [--subtree-id ID] FILE` and its stdout must equal the expected file byte for byte.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The manifest must reference at least this many distinct input documents.
const MIN_INPUTS: usize = 30;
/// Bytes of context shown on each side of the first difference.
const EXCERPT: usize = 40;

struct Vector {
    input: String,
    expected: String,
    exclusive: bool,
    with_comments: bool,
    prefixes: Option<String>,
    subtree_id: Option<String>,
}

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/c14n")
}

/// Parses `MANIFEST.tsv`: `input expected mode with_comments prefixes subtree_id`,
/// tab-separated, `-` for "none"; lines starting with `#` are comments.
fn load_manifest() -> Vec<Vector> {
    let path = vectors_dir().join("MANIFEST.tsv");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let optional = |s: &str| (s != "-").then(|| s.to_string());
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.is_empty() && !line.starts_with('#'))
        .map(|(i, line)| {
            let f: Vec<&str> = line.split('\t').collect();
            assert_eq!(
                f.len(),
                6,
                "MANIFEST.tsv line {}: expected 6 fields: {line:?}",
                i + 1
            );
            Vector {
                input: f[0].to_string(),
                expected: f[1].to_string(),
                exclusive: match f[2] {
                    "inclusive" => false,
                    "exclusive" => true,
                    other => panic!("MANIFEST.tsv line {}: bad mode {other:?}", i + 1),
                },
                with_comments: match f[3] {
                    "false" => false,
                    "true" => true,
                    other => panic!("MANIFEST.tsv line {}: bad with_comments {other:?}", i + 1),
                },
                prefixes: optional(f[4]),
                subtree_id: optional(f[5]),
            }
        })
        .collect()
}

fn read_vector_file(name: &str) -> Vec<u8> {
    let path = vectors_dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Runs `program args…` and returns its stdout, or a description of why it failed
/// (could not be started, or exited unsuccessfully; includes the start of stderr).
fn run(program: impl AsRef<std::ffi::OsStr>, args: &[OsString]) -> Result<Vec<u8>, String> {
    let program = program.as_ref();
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", program.to_string_lossy()))?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stderr: String = stderr.chars().take(300).collect();
        Err(format!(
            "{} exited with {}; stderr: {}",
            program.to_string_lossy(),
            out.status,
            stderr.trim_end()
        ))
    }
}

/// Compares `actual` with `expected`; on mismatch returns a description with the
/// first differing byte offset and an excerpt of both sides around it.
fn compare(name: &str, expected: &[u8], actual: &[u8]) -> Option<String> {
    if expected == actual {
        return None;
    }
    let offset = expected
        .iter()
        .zip(actual)
        .position(|(e, a)| e != a)
        .unwrap_or(expected.len().min(actual.len()));
    let excerpt = |bytes: &[u8]| {
        let start = offset.saturating_sub(EXCERPT);
        let end = (offset + EXCERPT).min(bytes.len());
        format!("\"{}\"", bytes[start.min(end)..end].escape_ascii())
    };
    Some(format!(
        "{name}: first difference at byte {offset} (expected {} bytes, got {} bytes)\n    expected: {}\n    actual:   {}",
        expected.len(),
        actual.len(),
        excerpt(expected),
        excerpt(actual),
    ))
}

#[test]
fn c14n_vectors_match_brygga() {
    let vectors = load_manifest();
    let mut inputs: Vec<&str> = vectors.iter().map(|v| v.input.as_str()).collect();
    inputs.sort_unstable();
    inputs.dedup();
    assert!(
        inputs.len() >= MIN_INPUTS,
        "MANIFEST.tsv references only {} distinct inputs, want at least {MIN_INPUTS}",
        inputs.len()
    );

    let mut failures = Vec::new();
    for v in &vectors {
        let mut args: Vec<OsString> = vec!["xml".into(), "c14n".into()];
        if v.exclusive {
            args.push("--exclusive".into());
        }
        if v.with_comments {
            args.push("--with-comments".into());
        }
        if let Some(p) = &v.prefixes {
            args.push("--inclusive-prefixes".into());
            args.push(p.into());
        }
        if let Some(id) = &v.subtree_id {
            args.push("--subtree-id".into());
            args.push(id.into());
        }
        args.push(vectors_dir().join(&v.input).into());

        let expected = read_vector_file(&v.expected);
        match run(env!("CARGO_BIN_EXE_brygga"), &args) {
            Ok(actual) => failures.extend(compare(&v.expected, &expected, &actual)),
            Err(e) => failures.push(format!("{}: {e}", v.expected)),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} C14N vectors failed:\n\n{}",
        failures.len(),
        vectors.len(),
        failures.join("\n\n")
    );
}

/// Proves the stored with-comments whole-document vectors are xmllint's output.
#[test]
fn stored_vectors_match_xmllint() {
    if run("xmllint", &["--version".into()]).is_err() {
        eprintln!("SKIPPED: xmllint not installed");
        return;
    }
    let mut checked = 0;
    let mut failures = Vec::new();
    for v in load_manifest() {
        if !v.with_comments || v.prefixes.is_some() || v.subtree_id.is_some() {
            continue;
        }
        let flag = if v.exclusive { "--exc-c14n" } else { "--c14n" };
        let args = [flag.into(), vectors_dir().join(&v.input).into()];
        match run("xmllint", &args) {
            Ok(actual) => failures.extend(compare(
                &v.expected,
                &read_vector_file(&v.expected),
                &actual,
            )),
            Err(e) => failures.push(format!("{}: {e}", v.expected)),
        }
        checked += 1;
    }
    assert!(
        checked > 0,
        "no with-comments whole-document vectors in MANIFEST.tsv"
    );
    assert!(
        failures.is_empty(),
        "{} of {checked} stored vectors differ from xmllint:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
