//! Transport between access points: TLS today; the HTTP server and client
//! come on top of it.
//!
//! This is where tokio and sockets live. [`tls`] builds the rustls
//! configurations from keys and trust already loaded by [`crate::config`];
//! it reads no files itself and never decides trust on its own: the TLS CA
//! certificates and CRLs it is given are the whole of it.

pub mod tls;
pub mod server;
