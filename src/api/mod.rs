//! Custom resource types of group `thoth-station.ninja`, version `v1alpha1`.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;

/// Every CustomResourceDefinition this operator owns, in a stable order.
pub fn all_crds() -> Vec<CustomResourceDefinition> {
    Vec::new()
}

/// All CRDs as one multi-document YAML stream, as `thoth-operator crd` prints it.
pub fn crds_yaml() -> Result<String, serde_saphyr::SerializeError> {
    let mut out = String::new();
    for crd in all_crds() {
        out.push_str("---\n");
        out.push_str(&serde_saphyr::to_string(&crd)?);
    }
    Ok(out)
}
