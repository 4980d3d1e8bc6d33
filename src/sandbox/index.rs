//! A small local package index speaking the PEP 691 JSON simple API, so that a message without a
//! version expands into the versions an index lists, as it would against PyPI, on a machine
//! without internet access.
//!
//! It serves `GET /simple/` (the project list) and `GET /simple/<project>/` (the project page with
//! PEP 700's `versions` and one file per release), with the media type
//! `application/vnd.pypi.simple.v1+json`; an unknown project is 404, as on PyPI. Project names in
//! the path are normalised (PEP 503) before lookup.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::admission::expand::SIMPLE_JSON;
use crate::package::normalize_package_name;

/// One project of the index: its normalised name, versions (oldest first) and whether its
/// releases ship a source distribution (else wheels only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    pub name: &'static str,
    pub versions: &'static [&'static str],
    pub sdist: bool,
}

/// What the sandbox's index lists: a few well-known projects, one of them wheels only.
pub const PROJECTS: &[Project] = &[
    Project {
        name: "flask",
        versions: &["2.3.3", "3.0.0", "3.0.3", "3.1.0"],
        sdist: true,
    },
    Project {
        name: "requests",
        versions: &["2.31.0", "2.32.0", "2.32.3"],
        sdist: true,
    },
    Project {
        name: "urllib3",
        versions: &["1.26.20", "2.2.3"],
        sdist: true,
    },
    Project {
        name: "tensorflow-cpu",
        versions: &["2.15.0", "2.16.1"],
        sdist: false,
    },
];

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("failed to bind the sandbox's package index on {address}")]
    Bind {
        address: String,
        #[source]
        source: std::io::Error,
    },
}

/// The project page of `project` as PEP 691 JSON (API version 1.1, PEP 700's `versions`), with
/// file URLs under `base` (the index's URL).
pub fn project_page(project: &Project, base: &str) -> Value {
    let mut files = Vec::new();
    for version in project.versions {
        let stem = project.name.replace('-', "_");
        let mut names = vec![format!("{stem}-{version}-py3-none-any.whl")];
        if project.sdist {
            names.push(format!("{stem}-{version}.tar.gz"));
        }
        for filename in names {
            // Content-derived digests: stable across runs, distinct per file.
            let digest = format!("{:x}", Sha256::digest(filename.as_bytes()));
            files.push(json!({
                "filename": filename,
                "url": format!("{base}/files/{filename}"),
                "hashes": {"sha256": digest},
                "requires-python": ">=3.8",
            }));
        }
    }
    json!({
        "meta": {"api-version": "1.1"},
        "name": project.name,
        "versions": project.versions,
        "files": files,
    })
}

/// The project list (`/simple/`) as PEP 691 JSON.
pub fn project_list() -> Value {
    let projects: Vec<Value> = PROJECTS.iter().map(|p| json!({"name": p.name})).collect();
    json!({"meta": {"api-version": "1.1"}, "projects": projects})
}

/// A running index; stops when dropped or shut down.
#[derive(Debug)]
pub struct PackageIndex {
    address: SocketAddr,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl PackageIndex {
    /// Serves the index on `listen` (port 0 picks a free port).
    pub async fn start(listen: &str) -> Result<Self, IndexError> {
        let bind_error = |source| IndexError::Bind {
            address: listen.to_string(),
            source,
        };
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(bind_error)?;
        let address = listener.local_addr().map_err(bind_error)?;
        let base = format!("http://{address}/simple");
        let app = Router::new()
            .route("/simple/", get(list))
            .route("/simple/{project}/", get(page))
            .with_state(base);
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.wait_for(|s| *s).await;
                })
                .await;
            if let Err(error) = served {
                tracing::warn!(%error, "sandbox package index stopped");
            }
        });
        Ok(Self {
            address,
            stop,
            task,
        })
    }

    /// The simple-API URL to register (`http://127.0.0.1:PORT/simple`).
    pub fn url(&self) -> String {
        format!("http://{}/simple", self.address)
    }

    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

fn json_response(body: Value) -> Response {
    ([(header::CONTENT_TYPE, SIMPLE_JSON)], body.to_string()).into_response()
}

async fn list() -> Response {
    json_response(project_list())
}

async fn page(State(base): State<String>, Path(project): Path<String>) -> Response {
    let wanted = normalize_package_name(&project);
    match PROJECTS.iter().find(|p| p.name == wanted) {
        Some(found) => json_response(project_page(found, &base)),
        None => (StatusCode::NOT_FOUND, "no such project").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::expand::{IndexClient, IndexClientConfig, Listing};
    use crate::package::{IndexUrl, PackageName};

    #[test]
    fn a_wheels_only_project_lists_no_sdist() {
        let tf = PROJECTS.iter().find(|p| !p.sdist).unwrap();
        let page = project_page(tf, "http://x/simple");
        let files = page["files"].as_array().unwrap();
        assert_eq!(files.len(), tf.versions.len());
        assert!(
            files
                .iter()
                .all(|f| f["filename"].as_str().unwrap().ends_with(".whl"))
        );
        let flask = project_page(&PROJECTS[0], "http://x/simple");
        assert!(
            flask["files"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f["filename"].as_str().unwrap().ends_with(".tar.gz"))
        );
    }

    #[tokio::test]
    async fn the_operators_index_client_reads_every_version_and_a_404() {
        let index = PackageIndex::start("127.0.0.1:0").await.unwrap();
        let client = IndexClient::new(IndexClientConfig::default()).unwrap();
        let url = IndexUrl::parse(&index.url()).unwrap();
        let listing = client
            .versions(&url, &PackageName::parse("Flask").unwrap())
            .await;
        let Listing::Versions {
            versions,
            not_pep440,
        } = listing
        else {
            panic!("{listing:?}");
        };
        assert!(not_pep440.is_empty());
        let mut listed: Vec<String> = versions.iter().map(|v| v.to_string()).collect();
        listed.sort();
        assert_eq!(listed, ["2.3.3", "3.0.0", "3.0.3", "3.1.0"]);
        let missing = client
            .versions(&url, &PackageName::parse("no-such-thing").unwrap())
            .await;
        assert_eq!(missing, Listing::NotFound);
        index.shutdown().await;
    }
}
