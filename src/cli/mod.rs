//! The `brygga` command line.
//!
//! Exit codes: 0 success, 1 a signature or trust check failed, 2 usage error
//! or unreadable input, 3 the input was rejected under SDK's rules.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};

use crate::limits::XmlLimits;
use crate::xml::{self, C14nMethod, Canonicalizer, NodeId};
use crate::xmlsec::reference::IdRegistry;

pub const EXIT_OK: i32 = 0;
pub const EXIT_VERIFY_FAILED: i32 = 1;
pub const EXIT_USAGE: i32 = 2;
pub const EXIT_REJECTED: i32 = 3;

#[derive(Parser)]
#[command(name = "brygga", version, about = "Secure message gateway for SDK (Säker digital kommunikation)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// XML canonicalisation and signatures.
    #[command(subcommand)]
    Xml(XmlCommand),
}

#[derive(Subcommand)]
enum XmlCommand {
    /// Canonical bytes of a document (or one element of it) to stdout.
    C14n(C14nArgs),
}

#[derive(Args)]
struct C14nArgs {
    /// Exclusive XML Canonicalization 1.0 instead of Canonical XML 1.0.
    #[arg(long)]
    exclusive: bool,
    /// Keep comments.
    #[arg(long)]
    with_comments: bool,
    /// InclusiveNamespaces PrefixList for exclusive canonicalisation ("#default" for the default namespace).
    #[arg(long, value_name = "PREFIXES", requires = "exclusive")]
    inclusive_prefixes: Option<String>,
    /// Canonicalise only the element with this ID (Id, ID, id, wsu:Id or xml:id).
    #[arg(long, value_name = "ID")]
    subtree_id: Option<String>,
    file: PathBuf,
}

/// A command's failure: what to print and which exit code to use.
pub struct Failure {
    pub code: i32,
    pub lines: Vec<String>,
}

impl Failure {
    pub fn usage(message: impl Into<String>) -> Self {
        Self { code: EXIT_USAGE, lines: vec![message.into()] }
    }
}

type CmdResult = Result<(), Failure>;

/// Runs the command line; returns the process exit code.
pub fn run() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { EXIT_USAGE } else { EXIT_OK };
        }
    };
    let result = match cli.command {
        Command::Xml(XmlCommand::C14n(args)) => c14n(args),
    };
    match result {
        Ok(()) => EXIT_OK,
        Err(failure) => {
            let mut stderr = std::io::stderr().lock();
            for line in failure.lines {
                let _ = writeln!(stderr, "{line}");
            }
            failure.code
        }
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|e| Failure::usage(format!("cannot read {}: {e}", path.display())))
}

fn parse_file(path: &Path) -> Result<xml::Document, Failure> {
    let bytes = read_file(path)?;
    xml::parse(&bytes, &XmlLimits::default()).map_err(|e| Failure::usage(format!("{}: {e}", path.display())))
}

fn write_stdout(bytes: &[u8]) -> CmdResult {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes).and_then(|_| out.flush()).map_err(|e| Failure::usage(format!("cannot write output: {e}")))
}

fn c14n(args: C14nArgs) -> CmdResult {
    let doc = parse_file(&args.file)?;
    let mut method = C14nMethod { exclusive: args.exclusive, with_comments: args.with_comments, ..Default::default() };
    if let Some(list) = &args.inclusive_prefixes {
        method = method.with_prefix_list(list);
    }
    let apex = match &args.subtree_id {
        None => NodeId::DOCUMENT,
        Some(id) => IdRegistry::build(&doc)
            .and_then(|r| r.get(id))
            .map_err(|e| Failure::usage(format!("{}: {e}", args.file.display())))?,
    };
    write_stdout(&Canonicalizer::new(&doc, &method).to_vec(apex))
}
