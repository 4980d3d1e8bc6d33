//! The one integration-test crate: each module drives a real part (PostgreSQL,
//! the in-memory API server, rdkafka's mock cluster) over its real interface.

mod catalogue;
#[cfg(feature = "sandbox")]
mod cli;
#[cfg(feature = "sandbox")]
mod controller;
mod crds;
mod layout;
mod store;
