//! The operator's RBAC against the API calls it makes: each granted, nothing beyond, no wildcards,
//! Workflows only in the worker namespaces.

use std::collections::BTreeSet;

use super::*;

/// Where an API call of the operator goes.
#[derive(Clone, Copy, Debug)]
enum Scope {
    /// The namespaces whose resources the operator watches (all by default).
    Watched,
    /// The namespace admission creates resources in (from Kafka messages).
    Resources,
    /// The operator's own namespace.
    Operator,
    /// Each worker namespace (where its Workflows run).
    Workers,
}

/// One kind of API call the operator makes: verbs on a resource, optionally of one name.
struct ApiCall {
    group: &'static str,
    resource: &'static str,
    verbs: &'static [&'static str],
    scope: Scope,
    /// The object name the calls are limited to, from the chart's values.
    name: Option<&'static str>,
}

/// The API calls the operator makes: admission (creates resources from Kafka messages), the
/// controllers (watch, create, patch, delete of resources, status patches and Workflows),
/// kube-runtime's event recorder (events.k8s.io create + patch) and kube-lease-manager (Lease
/// create, get, patch). Taken from the controller-runtime, controller-core and consumer branches'
/// code as of this writing; replace by the code's own table once it declares one.
const API_CALLS: &[ApiCall] = &[
    ApiCall {
        group: "thoth-station.ninja",
        resource: "solverruns",
        verbs: &["create"],
        scope: Scope::Resources,
        name: None,
    },
    ApiCall {
        group: "thoth-station.ninja",
        resource: "securityindicatorruns",
        verbs: &["create"],
        scope: Scope::Resources,
        name: None,
    },
    ApiCall {
        group: "thoth-station.ninja",
        resource: "advicerequests",
        verbs: &["create"],
        scope: Scope::Resources,
        name: None,
    },
    ApiCall {
        group: "thoth-station.ninja",
        resource: "solverruns",
        verbs: &["get", "list", "watch", "create", "patch", "delete"],
        scope: Scope::Watched,
        name: None,
    },
    ApiCall {
        group: "thoth-station.ninja",
        resource: "securityindicatorruns",
        verbs: &["get", "list", "watch", "create", "patch", "delete"],
        scope: Scope::Watched,
        name: None,
    },
    ApiCall {
        group: "thoth-station.ninja",
        resource: "advicerequests",
        verbs: &["get", "list", "watch", "create", "patch", "delete"],
        scope: Scope::Watched,
        name: None,
    },
    ApiCall {
        group: "thoth-station.ninja",
        resource: "solverruns/status",
        verbs: &["patch"],
        scope: Scope::Watched,
        name: None,
    },
    ApiCall {
        group: "thoth-station.ninja",
        resource: "securityindicatorruns/status",
        verbs: &["patch"],
        scope: Scope::Watched,
        name: None,
    },
    ApiCall {
        group: "thoth-station.ninja",
        resource: "advicerequests/status",
        verbs: &["patch"],
        scope: Scope::Watched,
        name: None,
    },
    ApiCall {
        group: "events.k8s.io",
        resource: "events",
        verbs: &["create", "patch"],
        scope: Scope::Watched,
        name: None,
    },
    ApiCall {
        group: "coordination.k8s.io",
        resource: "leases",
        verbs: &["create"],
        scope: Scope::Operator,
        name: None,
    },
    ApiCall {
        group: "coordination.k8s.io",
        resource: "leases",
        verbs: &["get", "patch"],
        scope: Scope::Operator,
        name: Some("leaderElection.leaseName"),
    },
    ApiCall {
        group: "argoproj.io",
        resource: "workflows",
        verbs: &["get", "list", "watch", "create", "patch", "delete"],
        scope: Scope::Workers,
        name: None,
    },
];

/// One right: a verb on a resource (of one name, or any) in a namespace, or in all (`None`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Grant {
    group: String,
    resource: String,
    verb: String,
    namespace: Option<String>,
    name: Option<String>,
}

impl Grant {
    /// Whether this grant allows `wanted` (a request in a namespace, possibly of one name).
    fn allows(&self, wanted: &Grant) -> bool {
        self.group == wanted.group
            && self.resource == wanted.resource
            && self.verb == wanted.verb
            && (self.namespace.is_none() || self.namespace == wanted.namespace)
            && (self.name.is_none() || self.name == wanted.name)
    }
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| v.as_str().expect("string").to_string())
        .collect()
}

/// The rights the rendered RBAC gives the ServiceAccount `namespace/name`.
fn grants_of(objects: &[Value], namespace: &str, name: &str) -> BTreeSet<Grant> {
    let mut grants = BTreeSet::new();
    for binding in objects
        .iter()
        .filter(|o| o["kind"] == "RoleBinding" || o["kind"] == "ClusterRoleBinding")
    {
        let bound = binding["subjects"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|s| {
                s["kind"] == "ServiceAccount" && s["name"] == name && s["namespace"] == namespace
            });
        if !bound {
            continue;
        }
        let role_ref = &binding["roleRef"];
        let binding_namespace = binding["metadata"]["namespace"].as_str();
        let role = objects
            .iter()
            .find(|o| {
                o["kind"] == role_ref["kind"]
                    && o["metadata"]["name"] == role_ref["name"]
                    && (role_ref["kind"] == "ClusterRole"
                        || o["metadata"]["namespace"].as_str() == binding_namespace)
            })
            .unwrap_or_else(|| {
                panic!("binding {} refers to no rendered role", binding["metadata"])
            });
        // A ClusterRoleBinding grants in every namespace; a RoleBinding only in its own.
        let scope = if binding["kind"] == "ClusterRoleBinding" {
            None
        } else {
            binding_namespace.map(String::from)
        };
        for rule in role["rules"].as_array().expect("rules") {
            assert!(
                rule.get("nonResourceURLs").is_none(),
                "non-resource URLs granted: {rule}"
            );
            let names = strings(&rule["resourceNames"]);
            let names: Vec<Option<String>> = if names.is_empty() {
                vec![None]
            } else {
                names.into_iter().map(Some).collect()
            };
            for group in strings(&rule["apiGroups"]) {
                for resource in strings(&rule["resources"]) {
                    for verb in strings(&rule["verbs"]) {
                        for name in &names {
                            grants.insert(Grant {
                                group: group.clone(),
                                resource: resource.clone(),
                                verb: verb.clone(),
                                namespace: scope.clone(),
                                name: name.clone(),
                            });
                        }
                    }
                }
            }
        }
    }
    grants
}

/// The requests the operator makes under the rendered configuration, as grants it needs; `None`
/// as namespace means in all namespaces.
fn needed_grants(objects: &[Value], values: &Value) -> BTreeSet<Grant> {
    let config = objects
        .iter()
        .find(|o| o["kind"] == "ConfigMap" && o["data"]["THOTH_SOLVER_NAMESPACE"].is_string())
        .expect("settings ConfigMap");
    let data = &config["data"];
    let watched: Vec<Option<String>> = match data["THOTH_WATCH_NAMESPACES"].as_str() {
        Some("") | None => vec![None],
        Some(list) => list.split(',').map(|n| Some(n.to_string())).collect(),
    };
    let mut workers: BTreeSet<String> = BTreeSet::new();
    for key in [
        "THOTH_SOLVER_NAMESPACE",
        "THOTH_SECURITY_INDICATORS_NAMESPACE",
        "THOTH_ADVISER_NAMESPACE",
    ] {
        workers.insert(data[key].as_str().expect("namespace").to_string());
    }
    for limit in data["THOTH_ADMISSION_LIMITS"]
        .as_str()
        .expect("limits")
        .split(',')
    {
        workers.insert(limit.split('=').next().expect("namespace").to_string());
    }
    let mut needed = BTreeSet::new();
    for call in API_CALLS {
        let namespaces: Vec<Option<String>> = match call.scope {
            Scope::Watched => watched.clone(),
            Scope::Resources => vec![Some(
                data["THOTH_RESOURCE_NAMESPACE"]
                    .as_str()
                    .expect("resource namespace")
                    .to_string(),
            )],
            Scope::Operator => vec![Some(RELEASE_NAMESPACE.to_string())],
            Scope::Workers => workers.iter().cloned().map(Some).collect(),
        };
        let name = call.name.map(|path| {
            path.split('.')
                .fold(values, |v, key| &v[key])
                .as_str()
                .expect("name in values")
                .to_string()
        });
        for namespace in namespaces {
            for verb in call.verbs {
                needed.insert(Grant {
                    group: call.group.to_string(),
                    resource: call.resource.to_string(),
                    verb: verb.to_string(),
                    namespace: namespace.clone(),
                    name: name.clone(),
                });
            }
        }
    }
    needed
}

#[test]
fn the_operators_rbac_grants_every_api_call_it_makes_and_nothing_beyond() {
    let defaults = yaml_file(&format!("{CHART}/values.yaml"));
    let every = yaml_file(EVERY_OPTION);
    for (objects, values, service_account) in [
        (render(None, &[]), &defaults, "thoth-thoth-operator"),
        (
            render(Some(EVERY_OPTION), &[]),
            &every,
            "thoth-loop-operator",
        ),
    ] {
        let granted = grants_of(&objects, RELEASE_NAMESPACE, service_account);
        let needed = needed_grants(&objects, values);
        for grant in &granted {
            assert!(
                !grant.verb.contains('*')
                    && !grant.resource.contains('*')
                    && !grant.group.contains('*'),
                "wildcard granted: {grant:?}"
            );
        }
        let missing: Vec<&Grant> = needed
            .iter()
            .filter(|n| !granted.iter().any(|g| g.allows(n)))
            .collect();
        assert!(
            missing.is_empty(),
            "calls the RBAC does not allow: {missing:#?}"
        );
        let beyond: Vec<&Grant> = granted
            .iter()
            .filter(|g| !needed.iter().any(|n| n == *g))
            .collect();
        assert!(beyond.is_empty(), "rights no call needs: {beyond:#?}");
        for grant in &granted {
            if grant.resource == "workflows" {
                assert!(
                    grant.namespace.is_some(),
                    "Workflows granted cluster-wide: {grant:?}"
                );
            }
        }
    }
    // With watched namespaces listed, nothing is cluster-wide.
    let objects = render(Some(EVERY_OPTION), &[]);
    assert!(of_kind(&objects, "ClusterRole").is_empty());
    assert!(of_kind(&objects, "ClusterRoleBinding").is_empty());
}

#[test]
fn the_workflows_service_account_may_only_report_its_task_results() {
    let objects = render(None, &[]);
    for namespace in ["thoth-middletier", "thoth-backend"] {
        let granted = grants_of(&objects, namespace, "thoth-workflow");
        let expected: BTreeSet<Grant> = ["create", "patch"]
            .into_iter()
            .map(|verb| Grant {
                group: "argoproj.io".into(),
                resource: "workflowtaskresults".into(),
                verb: verb.into(),
                namespace: Some(namespace.into()),
                name: None,
            })
            .collect();
        assert_eq!(granted, expected);
    }
}
