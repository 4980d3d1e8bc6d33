//! The in-memory API server driven the way the operator and people drive a real
//! one: kube-rs (Api, watcher, reflector, Controller) and a real kubectl.

mod fidelity;
mod field_validation;
mod kube_client;
pub mod kubectl;
mod openapi_v2;
mod review;
mod schema_and_selectors;
pub mod support;
mod watch_bookmarks;
