//! The one integration-test crate of the in-memory API server: driven the way
//! controllers and people drive a real one, through kube-rs (Api, watcher,
//! reflector, Controller) and a real kubectl, and its schema validator against
//! Argo's published CRDs.

mod builtins;
mod fidelity;
mod field_validation;
mod kube_client;
mod kubectl;
mod openapi_v2;
mod review;
mod schema;
mod schema_and_selectors;
mod support;
mod watch_bookmarks;
