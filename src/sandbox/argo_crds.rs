//! The sandbox's own CustomResourceDefinitions for Argo's `Workflow` and
//! `WorkflowTemplate`, so that the sandbox runs without Argo's published CRDs (which
//! the binary must not read at run time).
//!
//! The schemas are structural and cover only what the operator sets and reads and what
//! the Argo stand-in writes (see [`crate::api::argo`]); every object in them keeps
//! unknown fields, so any real Workflow is accepted too. Like Argo's own CRDs, the
//! Workflow has no status subresource: status is written by updating the object.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::{Value, json};

/// Argo's `Workflow` and `WorkflowTemplate` CRDs of our own writing.
pub fn argo_crds() -> Result<Vec<CustomResourceDefinition>, serde_json::Error> {
    Ok(vec![workflow_crd()?, workflow_template_crd()?])
}

fn string() -> Value {
    json!({"type": "string"})
}

fn timestamp() -> Value {
    json!({"type": "string", "format": "date-time", "nullable": true})
}

fn parameters() -> Value {
    json!({
        "type": "array",
        "items": {
            "type": "object",
            "required": ["name"],
            "x-kubernetes-preserve-unknown-fields": true,
            "properties": {"name": string(), "value": string()},
        },
    })
}

fn workflow_spec_schema() -> Value {
    json!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
        "properties": {
            "workflowTemplateRef": {
                "type": "object",
                "properties": {"name": string(), "clusterScope": {"type": "boolean"}},
            },
            "arguments": {
                "type": "object",
                "x-kubernetes-preserve-unknown-fields": true,
                "properties": {"parameters": parameters()},
            },
            "serviceAccountName": string(),
        },
    })
}

fn node_schema() -> Value {
    json!({
        "type": "object",
        "required": ["id", "name", "type"],
        "x-kubernetes-preserve-unknown-fields": true,
        "properties": {
            "id": string(),
            "name": string(),
            "displayName": string(),
            "type": string(),
            "phase": string(),
            "message": string(),
            "templateName": string(),
            "startedAt": timestamp(),
            "finishedAt": timestamp(),
        },
    })
}

fn workflow_status_schema() -> Value {
    json!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
        "properties": {
            "phase": string(),
            "startedAt": timestamp(),
            "finishedAt": timestamp(),
            "message": string(),
            "nodes": {"type": "object", "additionalProperties": node_schema()},
            "outputs": {
                "type": "object",
                "x-kubernetes-preserve-unknown-fields": true,
                "properties": {"parameters": parameters()},
            },
        },
    })
}

/// `workflows.argoproj.io`: spec (`workflowTemplateRef`, `arguments.parameters`,
/// `serviceAccountName`) and status (`phase`, `startedAt`, `finishedAt`, `message`,
/// `nodes`, `outputs.parameters`) typed, the rest kept as written.
pub fn workflow_crd() -> Result<CustomResourceDefinition, serde_json::Error> {
    serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "workflows.argoproj.io"},
        "spec": {
            "group": "argoproj.io",
            "names": {
                "kind": "Workflow",
                "listKind": "WorkflowList",
                "plural": "workflows",
                "singular": "workflow",
                "shortNames": ["wf"],
            },
            "scope": "Namespaced",
            "versions": [{
                "name": "v1alpha1",
                "served": true,
                "storage": true,
                "additionalPrinterColumns": [
                    {"name": "Status", "type": "string", "jsonPath": ".status.phase",
                     "description": "Status of the workflow"},
                    {"name": "Age", "type": "date", "format": "date-time",
                     "jsonPath": ".status.startedAt",
                     "description": "When the workflow was started"},
                    {"name": "Message", "type": "string", "jsonPath": ".status.message",
                     "description": "Why the workflow is in this condition"},
                ],
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "required": ["metadata", "spec"],
                    "properties": {
                        "apiVersion": string(),
                        "kind": string(),
                        "metadata": {"type": "object"},
                        "spec": workflow_spec_schema(),
                        "status": workflow_status_schema(),
                    },
                }},
                "subresources": {},
            }],
        },
    }))
}

/// `workflowtemplates.argoproj.io`: the operator and the stand-in only need to know
/// whether a template exists, so its spec is kept as written.
pub fn workflow_template_crd() -> Result<CustomResourceDefinition, serde_json::Error> {
    serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "workflowtemplates.argoproj.io"},
        "spec": {
            "group": "argoproj.io",
            "names": {
                "kind": "WorkflowTemplate",
                "listKind": "WorkflowTemplateList",
                "plural": "workflowtemplates",
                "singular": "workflowtemplate",
                "shortNames": ["wftmpl"],
            },
            "scope": "Namespaced",
            "versions": [{
                "name": "v1alpha1",
                "served": true,
                "storage": true,
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "required": ["metadata", "spec"],
                    "properties": {
                        "apiVersion": string(),
                        "kind": string(),
                        "metadata": {"type": "object"},
                        "spec": {
                            "type": "object",
                            "x-kubernetes-preserve-unknown-fields": true,
                        },
                    },
                }},
            }],
        },
    }))
}
