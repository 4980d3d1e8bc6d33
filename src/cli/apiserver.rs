//! `apiserver`: the in-memory Kubernetes API server alone (feature `sandbox`).

#[derive(Debug, clap::Args)]
pub struct ApiserverArgs {
    /// Address to listen on; port 0 picks a free port (the kubeconfig names the real one).
    #[arg(long, default_value = "127.0.0.1:6443", value_name = "HOST:PORT")]
    pub listen: String,
    /// Where to write the kubeconfig pointing at this server.
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: std::path::PathBuf,
    /// Start without this operator's CRDs: only Kubernetes' built-in kinds are served (Namespaces,
    /// Events, Leases, CRDs, and what an installation creates: ServiceAccounts, ConfigMaps, Secrets,
    /// Services, Deployments, RBAC, PodDisruptionBudgets, NetworkPolicies).
    #[arg(long)]
    pub empty: bool,
    /// How many recent changes watches can resume from; older resourceVersions get 410 Gone.
    #[arg(long, default_value_t = 10_000, value_name = "EVENTS")]
    pub event_window: usize,
}

pub(super) async fn serve(args: ApiserverArgs) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};

    let builder = if args.empty {
        ::apiserver::ApiServer::builder()
    } else {
        crate::sandbox::apiserver_with_crds()
    }
    .event_window(args.event_window);
    let server = builder.build().start(&args.listen).await?;
    server.write_kubeconfig(&args.kubeconfig)?;
    eprintln!(
        "in-memory API server listening on {}; kubeconfig written to {}",
        server.url(),
        args.kubeconfig.display()
    );
    let mut terminate = signal(SignalKind::terminate())?;
    tokio::select! {
        _ = terminate.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    server.shutdown().await;
    Ok(())
}
