//! The kinds this server serves: the built-in ones and those that
//! CustomResourceDefinitions add, with what discovery, storage and printing need.

use std::sync::Arc;

use serde_json::Value;

use super::error::{ApiError, Cause, Subject};
use super::schema::CompiledSchema;

/// One `additionalPrinterColumns` entry (or a built-in kind's column).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PrinterColumn {
    pub(crate) name: String,
    pub(crate) column_type: String,
    pub(crate) format: String,
    pub(crate) description: String,
    pub(crate) priority: i64,
    pub(crate) json_path: String,
}

impl PrinterColumn {
    fn new(name: &str, column_type: &str, json_path: &str, description: &str) -> Self {
        Self {
            name: name.to_string(),
            column_type: column_type.to_string(),
            format: String::new(),
            description: description.to_string(),
            priority: 0,
            json_path: json_path.to_string(),
        }
    }

    fn age() -> Self {
        Self::new(
            "Age",
            "date",
            ".metadata.creationTimestamp",
            "CreationTimestamp is a timestamp representing the server time when this object was created.",
        )
    }
}

/// A resource as served at one group/version.
#[derive(Debug, Clone)]
pub(crate) struct ResourceType {
    pub(crate) group: String,
    pub(crate) version: String,
    pub(crate) kind: String,
    pub(crate) plural: String,
    pub(crate) singular: String,
    pub(crate) short_names: Vec<String>,
    pub(crate) categories: Vec<String>,
    pub(crate) namespaced: bool,
    pub(crate) status_subresource: bool,
    pub(crate) schema: Option<Arc<CompiledSchema>>,
    /// The CRD's `openAPIV3Schema` as written, for the OpenAPI documents.
    pub(crate) raw_schema: Option<Value>,
    pub(crate) printer_columns: Vec<PrinterColumn>,
    /// Served from a CustomResourceDefinition (named here).
    pub(crate) crd_name: Option<String>,
    pub(crate) allow_create_on_update: bool,
    pub(crate) allow_unconditional_update: bool,
}

impl ResourceType {
    pub(crate) fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    pub(crate) fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    /// Where the objects live, shared by all served versions of the resource.
    pub(crate) fn storage_key(&self) -> StorageKey {
        StorageKey {
            group: self.group.clone(),
            plural: self.plural.clone(),
        }
    }

    pub(crate) fn subject(&self, name: &str) -> Subject {
        Subject::new(&self.group, &self.plural, name)
    }

    pub(crate) fn is_custom(&self) -> bool {
        self.crd_name.is_some()
    }

    fn builtin(group: &str, version: &str, kind: &str, plural: &str, namespaced: bool) -> Self {
        Self {
            group: group.to_string(),
            version: version.to_string(),
            kind: kind.to_string(),
            plural: plural.to_string(),
            singular: kind.to_lowercase(),
            short_names: Vec::new(),
            categories: Vec::new(),
            namespaced,
            status_subresource: false,
            schema: None,
            raw_schema: None,
            printer_columns: Vec::new(),
            crd_name: None,
            allow_create_on_update: false,
            allow_unconditional_update: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct StorageKey {
    pub(crate) group: String,
    pub(crate) plural: String,
}

pub(crate) const CRD_GROUP: &str = "apiextensions.k8s.io";
pub(crate) const CRD_PLURAL: &str = "customresourcedefinitions";

/// The built-in kinds every instance serves.
pub(crate) fn builtin_types() -> Vec<ResourceType> {
    let mut namespace = ResourceType::builtin("", "v1", "Namespace", "namespaces", false);
    namespace.short_names = vec!["ns".into()];
    namespace.status_subresource = true;
    namespace.printer_columns = vec![
        PrinterColumn::new(
            "Status",
            "string",
            ".status.phase",
            "The status of the namespace",
        ),
        PrinterColumn::age(),
    ];

    let mut event = ResourceType::builtin("", "v1", "Event", "events", true);
    event.short_names = vec!["ev".into()];
    event.allow_create_on_update = true;
    event.printer_columns = vec![
        PrinterColumn::new("Type", "string", ".type", "Type of this event"),
        PrinterColumn::new("Reason", "string", ".reason", "Why the action was taken"),
        PrinterColumn::new(
            "Object",
            "string",
            ".involvedObject.name",
            "The object this event is about",
        ),
        PrinterColumn::new(
            "Message",
            "string",
            ".message",
            "A human-readable description",
        ),
    ];

    let mut events_v1 = ResourceType::builtin("events.k8s.io", "v1", "Event", "events", true);
    events_v1.short_names = vec!["ev".into()];
    events_v1.allow_create_on_update = true;
    events_v1.printer_columns = vec![
        PrinterColumn::new("Type", "string", ".type", "Type of this event"),
        PrinterColumn::new("Reason", "string", ".reason", "Why the action was taken"),
        PrinterColumn::new(
            "Object",
            "string",
            ".regarding.name",
            "The object this event is about",
        ),
        PrinterColumn::new("Note", "string", ".note", "A human-readable description"),
    ];

    let mut lease = ResourceType::builtin("coordination.k8s.io", "v1", "Lease", "leases", true);
    lease.allow_create_on_update = true;
    lease.printer_columns = vec![
        PrinterColumn::new(
            "Holder",
            "string",
            ".spec.holderIdentity",
            "The current holder",
        ),
        PrinterColumn::age(),
    ];

    let mut crd = ResourceType::builtin(
        CRD_GROUP,
        "v1",
        "CustomResourceDefinition",
        CRD_PLURAL,
        false,
    );
    crd.short_names = vec!["crd".into(), "crds".into()];
    crd.categories = vec!["api-extensions".into()];
    crd.status_subresource = true;
    crd.allow_unconditional_update = false;
    crd.printer_columns = vec![PrinterColumn::new(
        "Created At",
        // The real server prints the timestamp here, not an age.
        "string",
        ".metadata.creationTimestamp",
        "When the definition was created",
    )];
    let mut kinds = vec![namespace, event, events_v1, lease, crd];
    kinds.extend(workload_types());
    kinds
}

/// The built-in kinds an application's installation (a Helm chart, `kubectl apply -k`)
/// creates: core ServiceAccounts, ConfigMaps, Secrets (where Helm keeps its releases) and
/// Services, apps Deployments, RBAC, PodDisruptionBudgets and NetworkPolicies.
///
/// They are stored, listed, watched, patched and deleted as every object is (names,
/// namespaces, resourceVersions, labels, finalizers, managed fields), but their bodies are
/// not checked against Kubernetes' schemas and nothing acts on them: no Pods are started,
/// no cluster IP is allocated, no RBAC rule is enforced. Their schema is loose on purpose;
/// tools such as kubernetes-validate are the authority on what a valid body is.
fn workload_types() -> Vec<ResourceType> {
    let mut service_account =
        ResourceType::builtin("", "v1", "ServiceAccount", "serviceaccounts", true);
    service_account.short_names = vec!["sa".into()];

    let mut config_map = ResourceType::builtin("", "v1", "ConfigMap", "configmaps", true);
    config_map.short_names = vec!["cm".into()];

    let mut secret = ResourceType::builtin("", "v1", "Secret", "secrets", true);
    secret.printer_columns = vec![
        PrinterColumn::new("Type", "string", ".type", "The type of the secret"),
        PrinterColumn::age(),
    ];

    let mut service = ResourceType::builtin("", "v1", "Service", "services", true);
    service.short_names = vec!["svc".into()];
    service.categories = vec!["all".into()];
    service.status_subresource = true;
    service.printer_columns = vec![
        PrinterColumn::new("Type", "string", ".spec.type", "The type of the service"),
        PrinterColumn::new(
            "Cluster-IP",
            "string",
            ".spec.clusterIP",
            "The cluster IP (none is allocated here)",
        ),
        PrinterColumn::age(),
    ];

    let mut deployment = ResourceType::builtin("apps", "v1", "Deployment", "deployments", true);
    deployment.short_names = vec!["deploy".into()];
    deployment.categories = vec!["all".into()];
    deployment.status_subresource = true;
    deployment.printer_columns = vec![
        PrinterColumn::new(
            "Ready",
            "integer",
            ".status.readyReplicas",
            "Replicas ready (nothing runs Pods here)",
        ),
        PrinterColumn::new("Desired", "integer", ".spec.replicas", "Replicas wanted"),
        PrinterColumn::age(),
    ];

    let rbac = "rbac.authorization.k8s.io";
    let role = ResourceType::builtin(rbac, "v1", "Role", "roles", true);
    let role_binding = ResourceType::builtin(rbac, "v1", "RoleBinding", "rolebindings", true);
    let cluster_role = ResourceType::builtin(rbac, "v1", "ClusterRole", "clusterroles", false);
    let cluster_role_binding = ResourceType::builtin(
        rbac,
        "v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
        false,
    );

    let mut pdb = ResourceType::builtin(
        "policy",
        "v1",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        true,
    );
    pdb.short_names = vec!["pdb".into()];
    pdb.status_subresource = true;
    pdb.printer_columns = vec![
        PrinterColumn::new(
            "Min Available",
            "string",
            ".spec.minAvailable",
            "Pods that must stay available",
        ),
        PrinterColumn::new(
            "Max Unavailable",
            "string",
            ".spec.maxUnavailable",
            "Pods that may be unavailable",
        ),
        PrinterColumn::age(),
    ];

    let mut network_policy = ResourceType::builtin(
        "networking.k8s.io",
        "v1",
        "NetworkPolicy",
        "networkpolicies",
        true,
    );
    network_policy.short_names = vec!["netpol".into()];

    let mut kinds = vec![
        service_account,
        config_map,
        secret,
        service,
        deployment,
        role,
        role_binding,
        cluster_role,
        cluster_role_binding,
        pdb,
        network_policy,
    ];
    // Kinds without columns of their own print their age, as the real server's do.
    for kind in &mut kinds {
        if kind.printer_columns.is_empty() {
            kind.printer_columns = vec![PrinterColumn::age()];
        }
    }
    kinds
}

fn str_at<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn strings_at(value: &Value, pointer: &str) -> Vec<String> {
    value
        .pointer(pointer)
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Checks a CustomResourceDefinition the way the API server must before serving
/// it and returns one resource type per served version.
pub(crate) fn types_from_crd(crd: &Value) -> Result<Vec<ResourceType>, ApiError> {
    let name = str_at(crd, "/metadata/name").to_string();
    let group = str_at(crd, "/spec/group");
    let plural = str_at(crd, "/spec/names/plural");
    let kind = str_at(crd, "/spec/names/kind");
    let scope = str_at(crd, "/spec/scope");
    let mut causes = Vec::new();
    let mut require = |field: &str, value: &str| {
        if value.is_empty() {
            causes.push(Cause {
                reason: "FieldValueRequired".into(),
                message: "Required value".into(),
                field: field.into(),
            });
        }
    };
    require("spec.group", group);
    require("spec.names.plural", plural);
    require("spec.names.kind", kind);
    require("spec.scope", scope);
    if !group.is_empty() && !plural.is_empty() && name != format!("{plural}.{group}") {
        causes.push(Cause {
            reason: "FieldValueInvalid".into(),
            message: format!(
                "Invalid value: \"{name}\": must be spec.names.plural+\".\"+spec.group"
            ),
            field: "metadata.name".into(),
        });
    }
    if !scope.is_empty() && scope != "Namespaced" && scope != "Cluster" {
        causes.push(Cause {
            reason: "FieldValueNotSupported".into(),
            message: format!(
                "Unsupported value: \"{scope}\": supported values: \"Cluster\", \"Namespaced\""
            ),
            field: "spec.scope".into(),
        });
    }
    let versions = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if versions.is_empty() {
        causes.push(Cause {
            reason: "FieldValueRequired".into(),
            message: "Required value: must have exactly one version marked as storage version"
                .into(),
            field: "spec.versions".into(),
        });
    }
    let storage_versions = versions
        .iter()
        .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        .count();
    if !versions.is_empty() && storage_versions != 1 {
        causes.push(Cause {
            reason: "FieldValueInvalid".into(),
            message: format!(
                "Invalid value: {storage_versions}: must have exactly one version marked as storage version"
            ),
            field: "spec.versions".into(),
        });
    }
    let mut types = Vec::new();
    for (index, version) in versions.iter().enumerate() {
        let version_name = str_at(version, "/name");
        if version_name.is_empty() {
            causes.push(Cause {
                reason: "FieldValueRequired".into(),
                message: "Required value".into(),
                field: format!("spec.versions[{index}].name"),
            });
            continue;
        }
        let schema = match version.pointer("/schema/openAPIV3Schema") {
            Some(raw) => match CompiledSchema::compile(raw) {
                Ok(compiled) => Some(Arc::new(compiled)),
                Err(err) => {
                    causes.push(Cause {
                        reason: "FieldValueInvalid".into(),
                        message: format!("Invalid value: {err}"),
                        field: format!("spec.versions[{index}].schema.openAPIV3Schema"),
                    });
                    None
                }
            },
            None => {
                causes.push(Cause {
                    reason: "FieldValueRequired".into(),
                    message: "Required value: schemas are required".into(),
                    field: format!("spec.versions[{index}].schema.openAPIV3Schema"),
                });
                None
            }
        };
        if version.get("served").and_then(Value::as_bool) != Some(true) {
            continue;
        }
        let mut printer_columns: Vec<PrinterColumn> = version
            .get("additionalPrinterColumns")
            .and_then(Value::as_array)
            .map(|columns| {
                columns
                    .iter()
                    .map(|c| PrinterColumn {
                        name: str_at(c, "/name").to_string(),
                        column_type: str_at(c, "/type").to_string(),
                        format: str_at(c, "/format").to_string(),
                        description: str_at(c, "/description").to_string(),
                        priority: c.get("priority").and_then(Value::as_i64).unwrap_or(0),
                        json_path: str_at(c, "/jsonPath").to_string(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        if printer_columns.is_empty() {
            printer_columns.push(PrinterColumn::age());
        }
        let singular = match str_at(crd, "/spec/names/singular") {
            "" => kind.to_lowercase(),
            s => s.to_string(),
        };
        types.push(ResourceType {
            group: group.to_string(),
            version: version_name.to_string(),
            kind: kind.to_string(),
            plural: plural.to_string(),
            singular,
            short_names: strings_at(crd, "/spec/names/shortNames"),
            categories: strings_at(crd, "/spec/names/categories"),
            namespaced: scope == "Namespaced",
            status_subresource: version.pointer("/subresources/status").is_some(),
            schema,
            raw_schema: version.pointer("/schema/openAPIV3Schema").cloned(),
            printer_columns,
            crd_name: Some(name.clone()),
            allow_create_on_update: false,
            allow_unconditional_update: false,
        });
    }
    if !causes.is_empty() {
        return Err(ApiError::invalid_causes(
            "CustomResourceDefinition",
            Subject::new(CRD_GROUP, CRD_PLURAL, &name),
            causes,
        ));
    }
    Ok(types)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn crd() -> Value {
        json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"},
            "spec": {
                "group": "example.com",
                "scope": "Namespaced",
                "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
                "versions": [{
                    "name": "v1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object"}},
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [{"name": "Size", "type": "integer", "jsonPath": ".spec.size"}]
                }]
            }
        })
    }

    #[test]
    fn a_crd_yields_its_served_versions() {
        let types = types_from_crd(&crd()).unwrap();
        assert_eq!(types.len(), 1);
        let t = &types[0];
        assert_eq!(t.api_version(), "example.com/v1");
        assert!(t.namespaced && t.status_subresource);
        assert_eq!(t.short_names, vec!["wd".to_string()]);
        assert_eq!(t.printer_columns[0].json_path, ".spec.size");

        // Beside an unserved version, only the served ones become types.
        let mut crd = crd();
        let v1 = crd["spec"]["versions"][0].clone();
        let mut v2 = v1.clone();
        v2["name"] = json!("v2");
        v2["storage"] = json!(false);
        v2["served"] = json!(false);
        let mut v1beta1 = v2.clone();
        v1beta1["name"] = json!("v1beta1");
        v1beta1["served"] = json!(true);
        crd["spec"]["versions"] = json!([v1beta1, v1, v2]);
        let mut versions: Vec<String> = types_from_crd(&crd)
            .unwrap()
            .iter()
            .map(|t| t.version.clone())
            .collect();
        versions.sort();
        assert_eq!(versions, ["v1", "v1beta1"]);
    }

    #[test]
    fn a_crd_whose_name_does_not_match_is_refused_with_the_field() {
        let mut bad = crd();
        bad["metadata"]["name"] = json!("gadgets.example.com");
        let err = types_from_crd(&bad).unwrap_err();
        assert_eq!(err.code, 422);
        assert_eq!(err.details.causes[0].field, "metadata.name");
    }
}
