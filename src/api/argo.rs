//! Our typed subset of Argo's `argoproj.io/v1alpha1` `Workflow` and `WorkflowTemplate`.
//!
//! Only the fields the operator sets (`workflowTemplateRef`, `arguments.parameters`,
//! `serviceAccountName`, metadata) and reads (`phase`, `startedAt`, `finishedAt`,
//! `message`, `nodes`, `outputs.parameters`) are typed. Every struct has a flattened
//! `other` map, so an object read and written back keeps the fields Argo added; a
//! cache that needs only the typed fields calls [`Workflow::trimmed`] to drop them.
//!
//! The operator never installs Argo's CRDs, so no schema is generated here
//! (`schema = "disabled"`). Argo's Workflow CRD has no status subresource: status is
//! written by updating the main object (see Argo's `manifests/base/crds/minimal`).

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::terms::WorkflowPhase;

/// API group of Argo Workflows.
pub const ARGO_GROUP: &str = "argoproj.io";
/// `apiVersion` of Argo's Workflow and WorkflowTemplate.
pub const ARGO_API_VERSION: &str = "argoproj.io/v1alpha1";
/// Label Argo's controller sets to `"true"` on a Workflow once it has finished
/// (`workflows.argoproj.io/completed`). Only Argo (or its stand-in) writes it.
pub const COMPLETED_LABEL: &str = "workflows.argoproj.io/completed";
/// Prefix of every label and annotation Argo owns; the operator never sets one.
/// Label Argo's controller keeps equal to the Workflow's phase (Argo's `common.LabelKeyPhase`).
pub const PHASE_LABEL: &str = "workflows.argoproj.io/phase";
pub const ARGO_LABEL_PREFIX: &str = "workflows.argoproj.io/";

/// Fields Argo's model has and we do not type, kept verbatim so that an object
/// read and written back loses nothing.
pub type Unknown = BTreeMap<String, Value>;

/// `spec` of an Argo Workflow (`io.argoproj.workflow.v1alpha1.WorkflowSpec`).
#[derive(CustomResource, Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "argoproj.io",
    version = "v1alpha1",
    kind = "Workflow",
    plural = "workflows",
    shortname = "wf",
    namespaced,
    status = "WorkflowStatus",
    schema = "disabled"
)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowSpec {
    /// The WorkflowTemplate (in the Workflow's namespace) whose templates this Workflow runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_template_ref: Option<WorkflowTemplateRef>,
    /// Global parameters, visible to templates as `{{workflow.parameters.NAME}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<Arguments>,
    /// Service account the Workflow's pods run as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
    #[serde(flatten)]
    pub other: Unknown,
}

/// `spec.workflowTemplateRef`: a namespaced WorkflowTemplate, or a
/// ClusterWorkflowTemplate when `clusterScope` is true.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowTemplateRef {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_scope: Option<bool>,
}

/// `spec.arguments` (`io.argoproj.workflow.v1alpha1.Arguments`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Arguments {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<Parameter>,
    #[serde(flatten)]
    pub other: Unknown,
}

/// One named string parameter (`io.argoproj.workflow.v1alpha1.Parameter`); used both
/// for `spec.arguments.parameters` and `status.outputs.parameters`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Parameter {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(flatten)]
    pub other: Unknown,
}

impl Parameter {
    /// A parameter with a literal value.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: Some(value.into()),
            other: Unknown::new(),
        }
    }
}

/// A Workflow's phase as Argo writes it in `status.phase`: one of the phases the
/// operator knows ([`WorkflowPhase`], declared once in `terms`), or any other value kept
/// verbatim (a later Argo's phase, or the empty string Argo writes before it picks the
/// Workflow up). [`ArgoPhase::known`] is the one conversion to the operator's phases.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum ArgoPhase {
    Known(WorkflowPhase),
    /// Any other value, kept as written (the empty string included).
    Other(String),
}

impl ArgoPhase {
    pub fn as_str(&self) -> &str {
        match self {
            Self::Known(phase) => phase.as_str(),
            Self::Other(other) => other,
        }
    }

    /// The phase if the operator knows it; `None` for [`ArgoPhase::Other`].
    pub fn known(&self) -> Option<WorkflowPhase> {
        match self {
            Self::Known(phase) => Some(*phase),
            Self::Other(_) => None,
        }
    }

    /// Succeeded, Failed and Error: Argo moves a Workflow out of none of them.
    pub fn is_finished(&self) -> bool {
        self.known().is_some_and(WorkflowPhase::is_finished)
    }
}

impl From<WorkflowPhase> for ArgoPhase {
    fn from(value: WorkflowPhase) -> Self {
        Self::Known(value)
    }
}

impl From<String> for ArgoPhase {
    fn from(value: String) -> Self {
        WorkflowPhase::parse(&value).map_or(Self::Other(value), Self::Known)
    }
}

impl From<ArgoPhase> for String {
    fn from(value: ArgoPhase) -> Self {
        match value {
            ArgoPhase::Known(phase) => phase.as_str().to_string(),
            ArgoPhase::Other(other) => other,
        }
    }
}

impl fmt::Display for ArgoPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `status` of an Argo Workflow (`io.argoproj.workflow.v1alpha1.WorkflowStatus`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<ArgoPhase>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Time>,
    /// Why the Workflow is in its phase, e.g. `workflowtemplates.argoproj.io "solver" not found`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Argo's node tree, keyed by node id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub nodes: BTreeMap<String, NodeStatus>,
    /// Global outputs: parameters templates exported with `globalName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outputs: Option<Outputs>,
    #[serde(flatten)]
    pub other: Unknown,
}

/// One node of a Workflow (`io.argoproj.workflow.v1alpha1.NodeStatus`): a pod, a
/// step, a DAG task or a group of them. Argo requires `id`, `name` and `type`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeStatus {
    pub id: String,
    /// Full name, e.g. `solver-rhel-8-py38-…-1.solve`.
    pub name: String,
    /// Short name shown by the UI, e.g. `solve`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// `Pod`, `Steps`, `StepGroup`, `DAG`, `TaskGroup`, `Retry`, `Skipped`, `Suspend`, ...
    #[serde(rename = "type")]
    pub type_: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<ArgoPhase>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_name: Option<String>,
    #[serde(flatten)]
    pub other: Unknown,
}

/// `status.outputs` (`io.argoproj.workflow.v1alpha1.Outputs`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Outputs {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<Parameter>,
    #[serde(flatten)]
    pub other: Unknown,
}

impl Workflow {
    /// The same Workflow with only the typed fields: every `other` map emptied and
    /// `managedFields` dropped. For caches that must not grow with Argo's status size.
    pub fn trimmed(mut self) -> Self {
        self.metadata.managed_fields = None;
        self.spec.other.clear();
        if let Some(arguments) = self.spec.arguments.as_mut() {
            arguments.other.clear();
            for parameter in &mut arguments.parameters {
                parameter.other.clear();
            }
        }
        if let Some(status) = self.status.as_mut() {
            status.other.clear();
            for node in status.nodes.values_mut() {
                node.other.clear();
            }
            if let Some(outputs) = status.outputs.as_mut() {
                outputs.other.clear();
                for parameter in &mut outputs.parameters {
                    parameter.other.clear();
                }
            }
        }
        self
    }

    /// The value of the global output parameter `name`, if Argo published one.
    pub fn output_parameter(&self, name: &str) -> Option<&str> {
        self.status
            .as_ref()?
            .outputs
            .as_ref()?
            .parameters
            .iter()
            .find(|p| p.name == name)?
            .value
            .as_deref()
    }

    /// Whether Argo marked the Workflow finished with the `workflows.argoproj.io/completed` label.
    pub fn is_labelled_completed(&self) -> bool {
        self.metadata
            .labels
            .as_ref()
            .and_then(|labels| labels.get(COMPLETED_LABEL))
            .is_some_and(|value| value == "true")
    }
}

/// `spec` of an Argo WorkflowTemplate; the operator reads only that one exists, so
/// everything is kept untyped.
#[derive(CustomResource, Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "argoproj.io",
    version = "v1alpha1",
    kind = "WorkflowTemplate",
    plural = "workflowtemplates",
    shortname = "wftmpl",
    namespaced,
    schema = "disabled"
)]
pub struct WorkflowTemplateSpec {
    #[serde(flatten)]
    pub other: Unknown,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn argo_written() -> Value {
        json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Workflow",
            "metadata": {
                "name": "solver-x-1",
                "namespace": "thoth-middletier",
                "labels": {"workflows.argoproj.io/completed": "true"},
                "managedFields": [{"manager": "workflow-controller"}]
            },
            "spec": {
                "workflowTemplateRef": {"name": "solver"},
                "arguments": {"parameters": [{"name": "A", "value": "1"}], "artifacts": []},
                "serviceAccountName": "argo",
                "ttlStrategy": {"secondsAfterCompletion": 25}
            },
            "status": {
                "phase": "Succeeded",
                "startedAt": "2026-11-30T12:00:00Z",
                "finishedAt": "2026-11-30T12:01:00Z",
                "progress": "1/1",
                "nodes": {
                    "solver-x-1": {
                        "id": "solver-x-1", "name": "solver-x-1", "displayName": "solver-x-1",
                        "type": "DAG", "phase": "Succeeded", "templateName": "solve-and-sync",
                        "children": ["solver-x-1-123"]
                    }
                },
                "outputs": {"parameters": [{"name": "document-id", "value": "solver-x-1",
                                            "valueFrom": {"parameter": "x"}}]},
                "storedTemplates": {"big": {"container": {"image": "quay.io/thoth"}}}
            }
        })
    }

    #[test]
    fn fields_argo_adds_survive_a_round_trip() {
        let original = argo_written();
        let workflow: Workflow = serde_json::from_value(original.clone()).expect("parses");
        assert_eq!(workflow.output_parameter("document-id"), Some("solver-x-1"));
        assert!(workflow.is_labelled_completed());
        assert_eq!(
            workflow.status.as_ref().and_then(|s| s.phase.clone()),
            Some(ArgoPhase::Known(WorkflowPhase::Succeeded))
        );
        assert_eq!(
            serde_json::to_value(&workflow).expect("serialises"),
            original
        );
    }

    #[test]
    fn trimmed_keeps_only_typed_fields() {
        let workflow: Workflow = serde_json::from_value(argo_written()).expect("parses");
        let trimmed = serde_json::to_value(workflow.trimmed()).expect("serialises");
        assert!(trimmed["metadata"].get("managedFields").is_none());
        assert!(trimmed["spec"].get("ttlStrategy").is_none());
        assert!(trimmed["spec"]["arguments"].get("artifacts").is_none());
        assert!(trimmed["status"].get("storedTemplates").is_none());
        assert!(trimmed["status"].get("progress").is_none());
        assert!(
            trimmed["status"]["nodes"]["solver-x-1"]
                .get("children")
                .is_none()
        );
        assert!(
            trimmed["status"]["outputs"]["parameters"][0]
                .get("valueFrom")
                .is_none()
        );
        assert_eq!(trimmed["status"]["phase"], "Succeeded");
        assert_eq!(
            trimmed["status"]["nodes"]["solver-x-1"]["templateName"],
            "solve-and-sync"
        );
    }

    #[test]
    fn unknown_and_empty_phases_are_kept_verbatim() {
        for raw in ["", "Omitted", "Skipped"] {
            let phase: ArgoPhase = serde_json::from_value(json!(raw)).expect("parses");
            assert_eq!(phase, ArgoPhase::Other(raw.to_string()));
            assert_eq!(phase.known(), None);
            assert!(!phase.is_finished());
            assert_eq!(
                serde_json::to_value(&phase).expect("serialises"),
                json!(raw)
            );
        }
        let failed: ArgoPhase = serde_json::from_value(json!("Failed")).expect("parses");
        assert!(failed.is_finished());
        assert_eq!(failed.known(), Some(WorkflowPhase::Failed));
    }

    #[test]
    fn a_null_start_time_as_argo_writes_it_reads_as_absent() {
        let status: WorkflowStatus = serde_json::from_value(
            json!({"phase": "Pending", "startedAt": null, "finishedAt": null}),
        )
        .expect("parses");
        assert_eq!(status.started_at, None);
        assert_eq!(status.phase, Some(ArgoPhase::Known(WorkflowPhase::Pending)));
    }
}
