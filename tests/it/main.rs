//! The one integration-test crate: each module drives a real part (PostgreSQL,
//! the in-memory API server, rdkafka's mock cluster) over its real interface.

#[cfg(feature = "sandbox")]
mod admission;
mod catalogue;
#[cfg(feature = "sandbox")]
mod cli;
mod crds;
#[cfg(feature = "sandbox")]
mod ingest;
mod layout;
mod store;
