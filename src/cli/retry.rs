//! `thoth-operator retry KIND NAME [-n NS]`: asks for a new attempt of a Failed or Errored
//! resource by giving its retry annotation a new value (the controller does the rest).

use anyhow::Context as _;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};

use crate::api::{AdviceRequest, SecurityIndicatorRun, SolverRun};
use crate::reconcile::RETRY_ANNOTATION;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RetryKind {
    #[value(name = "solverrun", alias = "SolverRun", alias = "sr")]
    SolverRun,
    #[value(
        name = "securityindicatorrun",
        alias = "SecurityIndicatorRun",
        alias = "sir"
    )]
    SecurityIndicatorRun,
    #[value(name = "advicerequest", alias = "AdviceRequest", alias = "ar")]
    AdviceRequest,
}

#[derive(Debug, clap::Args)]
pub struct RetryArgs {
    /// Kind of the resource.
    #[arg(value_enum)]
    pub kind: RetryKind,
    /// Name of the resource.
    pub name: String,
    /// Namespace of the resource; the kubeconfig's default when unset.
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
}

pub async fn run(args: RetryArgs) -> anyhow::Result<()> {
    let client = Client::try_default()
        .await
        .context("no Kubernetes configuration found (kubeconfig or in-cluster)")?;
    let namespace = args
        .namespace
        .clone()
        .unwrap_or_else(|| client.default_namespace().to_string());
    let value = chrono::Utc::now().to_rfc3339();
    request_retry(client, args.kind, &namespace, &args.name, &value).await?;
    println!(
        "{}/{} will run again ({RETRY_ANNOTATION}={value})",
        namespace, args.name
    );
    Ok(())
}

/// Sets the retry annotation of `namespace/name` to `value`.
pub async fn request_retry(
    client: Client,
    kind: RetryKind,
    namespace: &str,
    name: &str,
    value: &str,
) -> anyhow::Result<()> {
    let patch = Patch::Merge(serde_json::json!({
        "metadata": {"annotations": {RETRY_ANNOTATION: value}}
    }));
    let params = PatchParams::default();
    let result = match kind {
        RetryKind::SolverRun => Api::<SolverRun>::namespaced(client, namespace)
            .patch(name, &params, &patch)
            .await
            .map(drop),
        RetryKind::SecurityIndicatorRun => {
            Api::<SecurityIndicatorRun>::namespaced(client, namespace)
                .patch(name, &params, &patch)
                .await
                .map(drop)
        }
        RetryKind::AdviceRequest => Api::<AdviceRequest>::namespaced(client, namespace)
            .patch(name, &params, &patch)
            .await
            .map(drop),
    };
    result.with_context(|| format!("failed to annotate {namespace}/{name} for a retry"))
}
