//! The sandbox's Kubernetes: the in-memory API server with this operator's CRDs, our own Argo
//! Workflow/WorkflowTemplate CRDs ([`super::argo_crds`]), the worker namespaces and the three
//! WorkflowTemplates the chart ships.
//!
//! The namespaces and templates come from `manifests/thoth-operator.yaml` (the chart rendered by
//! `scripts/render-manifests.sh`), compiled into the binary: one source for what a cluster
//! install and the sandbox run, and nothing read from disk at run time.

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DynamicObject, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::Value;

use apiserver::{RunningApiServer, ServerError};

/// The rendered install manifests (chart defaults), as shipped in `manifests/`.
pub const INSTALL_MANIFESTS: &str = include_str!("../../manifests/thoth-operator.yaml");

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("failed to start the in-memory API server")]
    Start(#[source] ServerError),
    #[error("failed to build our Argo CRDs")]
    ArgoCrds(#[source] serde_json::Error),
    #[error("manifests/thoth-operator.yaml (compiled in) is not YAML")]
    Manifests(#[source] serde_saphyr::Error),
    #[error("manifests/thoth-operator.yaml holds no {0}")]
    Missing(&'static str),
    #[error("failed to create {kind} {name} in the sandbox's API server")]
    Create {
        kind: &'static str,
        name: String,
        #[source]
        source: kube::Error,
    },
}

/// The objects of the install manifests the sandbox creates: namespaces first, then
/// WorkflowTemplates (with their namespace), in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct SandboxObjects {
    pub namespaces: Vec<String>,
    pub workflow_templates: Vec<Value>,
}

/// Picks the Namespaces and WorkflowTemplates out of the install manifests.
pub fn sandbox_objects(manifests: &str) -> Result<SandboxObjects, ClusterError> {
    let documents: Vec<Value> =
        serde_saphyr::from_multiple(manifests).map_err(ClusterError::Manifests)?;
    let mut objects = SandboxObjects {
        // The Lease of the operator's leader election lives in `default` (RunArgs' default).
        namespaces: vec!["default".to_string()],
        workflow_templates: Vec::new(),
    };
    for document in documents {
        match document.get("kind").and_then(Value::as_str) {
            Some("Namespace") => {
                if let Some(name) = document.pointer("/metadata/name").and_then(Value::as_str)
                    && !objects.namespaces.iter().any(|n| n == name)
                {
                    objects.namespaces.push(name.to_string());
                }
            }
            Some("WorkflowTemplate") => objects.workflow_templates.push(document),
            _ => {}
        }
    }
    if objects.workflow_templates.is_empty() {
        return Err(ClusterError::Missing("WorkflowTemplate"));
    }
    // A template's namespace must exist even if the manifests did not declare it.
    for template in &objects.workflow_templates {
        if let Some(namespace) = template
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            && !objects.namespaces.iter().any(|n| n == namespace)
        {
            objects.namespaces.push(namespace.to_string());
        }
    }
    Ok(objects)
}

/// Starts the API server on `listen` (port 0 picks one) and creates the namespaces and
/// WorkflowTemplates of [`INSTALL_MANIFESTS`], and the namespaces `extra`.
pub async fn start(listen: &str, extra: &[String]) -> Result<RunningApiServer, ClusterError> {
    let mut objects = sandbox_objects(INSTALL_MANIFESTS)?;
    for name in extra {
        if !objects.namespaces.contains(name) {
            objects.namespaces.push(name.clone());
        }
    }
    let argo = super::argo_crds::argo_crds().map_err(ClusterError::ArgoCrds)?;
    let server = super::apiserver_with_crds()
        .crds(argo)
        .build()
        .start(listen)
        .await
        .map_err(ClusterError::Start)?;
    let client = server.client().map_err(ClusterError::Start)?;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    for name in &objects.namespaces {
        let mut namespace = Namespace::default();
        namespace.metadata.name = Some(name.clone());
        create_if_absent(namespaces.create(&PostParams::default(), &namespace).await).map_err(
            |source| ClusterError::Create {
                kind: "Namespace",
                name: name.clone(),
                source,
            },
        )?;
    }
    let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(
        "argoproj.io",
        "v1alpha1",
        "WorkflowTemplate",
    ));
    for template in objects.workflow_templates {
        let name = template
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let namespace = template
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("default")
            .to_string();
        let create_error = |source| ClusterError::Create {
            kind: "WorkflowTemplate",
            name: format!("{namespace}/{name}"),
            source,
        };
        let object: DynamicObject = serde_json::from_value(template)
            .map_err(|e| create_error(kube::Error::SerdeError(e)))?;
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &namespace, &resource);
        create_if_absent(api.create(&PostParams::default(), &object).await)
            .map_err(create_error)?;
    }
    Ok(server)
}

/// "Already exists" is success: the object is there.
fn create_if_absent<T>(result: Result<T, kube::Error>) -> Result<(), kube::Error> {
    match result {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
        Err(err) => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_manifests_give_three_templates_in_their_worker_namespaces() {
        let objects = sandbox_objects(INSTALL_MANIFESTS).unwrap();
        let mut templates: Vec<(String, String)> = objects
            .workflow_templates
            .iter()
            .map(|t| {
                (
                    t["metadata"]["namespace"].as_str().unwrap().to_string(),
                    t["metadata"]["name"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        templates.sort();
        assert_eq!(
            templates,
            [
                ("thoth-backend".to_string(), "adviser".to_string()),
                (
                    "thoth-middletier".to_string(),
                    "security-indicators".to_string()
                ),
                ("thoth-middletier".to_string(), "solver".to_string()),
            ]
        );
        for namespace in ["default", "thoth-backend", "thoth-middletier"] {
            assert!(
                objects.namespaces.iter().any(|n| n == namespace),
                "{namespace} in {:?}",
                objects.namespaces
            );
        }
    }

    #[test]
    fn manifests_without_templates_are_refused() {
        let err = sandbox_objects("kind: Namespace\nmetadata:\n  name: a\n").unwrap_err();
        assert!(
            matches!(err, ClusterError::Missing("WorkflowTemplate")),
            "{err}"
        );
    }
}
