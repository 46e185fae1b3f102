//! The node: what runs between clients and the AS4 network and has to
//! remember things.
//!
//! - [`outbox`]: the message states of DIGG's message API and their
//!   transitions, with the retry policy; pure logic, times and random
//!   values are parameters.
//! - [`store`]: durable storage of both directions over sled: outbox with
//!   its scheduling indexes, inboxes per functional address, AS4 duplicate
//!   elimination and receipt correlation. Everything acknowledged to a
//!   client or peer is on disk before the call returns.

pub mod api;
pub mod conversations;
pub mod devnet;
pub mod metrics;
pub mod outbox;
pub mod receiver;
pub mod runtime;
pub mod sender;
pub mod serve;
pub mod store;
