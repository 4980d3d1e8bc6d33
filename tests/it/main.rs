//! The one integration-test crate: each module drives a real part (PostgreSQL,
//! the in-memory API server, rdkafka's mock cluster) over its real interface.

mod apiserver;
mod catalogue;
mod controller;
mod crds;
mod schema;
mod store;
