//! `brygga api hash-secret`: the `secret_hash` of an `[[api.clients]]`
//! entry.
//!
//! The secret is read from standard input (one line; the newline is not
//! part of it), never from the command line, where other users could see
//! it in the process list. `--generate` makes a random secret instead and
//! prints it once, with its hash.

use std::io::Read as _;

use clap::Subcommand;

use super::{write_stdout, CmdResult, Failure};
use crate::api::secret::{generate_secret, SecretHash, DEFAULT_ITERATIONS, MAX_ITERATIONS, MIN_ITERATIONS};

#[derive(Subcommand)]
pub(super) enum ApiCommand {
    /// Hash a client secret for `[[api.clients]] secret_hash` (PBKDF2-HMAC-SHA256, random salt).
    HashSecret {
        /// Make a random secret (printed once, as a TOML comment) instead of reading one from stdin.
        #[arg(long)]
        generate: bool,
        /// PBKDF2 iterations.
        #[arg(long, default_value_t = DEFAULT_ITERATIONS, value_parser = clap::value_parser!(u32).range(MIN_ITERATIONS as i64..=MAX_ITERATIONS as i64))]
        iterations: u32,
    },
}

pub(super) fn run(cmd: ApiCommand) -> CmdResult {
    match cmd {
        ApiCommand::HashSecret { generate, iterations } => {
            let (secret, shown) = if generate {
                let s = generate_secret().map_err(Failure::usage)?;
                (s.clone(), Some(s))
            } else {
                let mut input = String::new();
                std::io::stdin().read_to_string(&mut input).map_err(|e| Failure::usage(format!("cannot read the secret from stdin: {e}")))?;
                let secret = input.strip_suffix('\n').map(|s| s.strip_suffix('\r').unwrap_or(s)).unwrap_or(&input).to_owned();
                if secret.len() < 16 {
                    return Err(Failure::usage("the secret must be at least 16 characters (or use --generate)"));
                }
                (secret, None)
            };
            let hash = SecretHash::new(&secret, iterations).map_err(Failure::usage)?;
            let mut out = String::new();
            if let Some(s) = shown {
                out.push_str(&format!("# client secret (give it to the client; it is not stored anywhere): {s}\n"));
            }
            out.push_str(&format!("secret_hash = \"{hash}\"\n"));
            write_stdout(out.as_bytes())
        }
    }
}
