//! The one integration-test crate: each module drives one real part over its real
//! interface (a PostgreSQL server, the in-memory API server, the operator's binary);
//! the module's own doc names the part.

#[cfg(feature = "sandbox")]
mod admission;
#[cfg(feature = "sandbox")]
mod argo_standin;
mod catalogue;
#[cfg(feature = "sandbox")]
mod cli;
#[cfg(feature = "sandbox")]
mod controller;
mod crds;
#[cfg(feature = "sandbox")]
mod harness;
#[cfg(feature = "sandbox")]
mod ingest;
mod install;
mod layout;
#[cfg(feature = "sandbox")]
mod sandbox;
mod store;
mod values;
