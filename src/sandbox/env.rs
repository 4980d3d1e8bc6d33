//! `--dir DIR`: what other processes need to reach the sandbox — `DIR/kubeconfig` for kubectl and
//! kube clients, and `DIR/sandbox.env`, shell `KEY='value'` lines that configure
//! `thoth-operator run` (and `publish`, `trace`, `psql`) against it:
//! `set -a; . DIR/sandbox.env; set +a; thoth-operator run`.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum EnvFileError {
    #[error("failed to create the sandbox directory {0}")]
    Directory(PathBuf, #[source] std::io::Error),
    #[error("failed to write {0}")]
    Write(PathBuf, #[source] std::io::Error),
}

/// The kubeconfig's file name inside `--dir`.
pub const KUBECONFIG_FILE: &str = "kubeconfig";
/// The environment file's name inside `--dir`.
pub const ENV_FILE: &str = "sandbox.env";

/// The settings written to `sandbox.env`, in file order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SandboxEnv {
    pub variables: Vec<(&'static str, String)>,
}

impl SandboxEnv {
    pub fn set(&mut self, name: &'static str, value: impl Into<String>) {
        self.variables.push((name, value.into()));
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.variables
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The file's text: a comment, then one `NAME='value'` line per variable (single quotes, so
    /// a shell takes every value literally).
    pub fn render(&self) -> String {
        let mut out = String::from(
            "# Written by `thoth-operator sandbox`; valid while it runs.\n\
             # Use: set -a; . ./sandbox.env; set +a\n",
        );
        for (name, value) in &self.variables {
            out.push_str(name);
            out.push('=');
            out.push_str(&shell_quote(value));
            out.push('\n');
        }
        out
    }

    /// Parses what [`SandboxEnv::render`] wrote back into pairs (for tests and tools that do not
    /// go through a shell).
    pub fn parse(text: &str) -> Vec<(String, String)> {
        text.lines()
            .filter(|line| !line.trim_start().starts_with('#') && line.contains('='))
            .filter_map(|line| {
                let (name, quoted) = line.split_once('=')?;
                Some((name.to_string(), shell_unquote(quoted)))
            })
            .collect()
    }
}

fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

fn shell_unquote(quoted: &str) -> String {
    quoted
        .strip_prefix('\'')
        .and_then(|q| q.strip_suffix('\''))
        .map_or_else(|| quoted.to_string(), |inner| inner.replace(r"'\''", "'"))
}

/// Creates `dir` when needed; returns it made absolute (so the env file's paths work from anywhere).
pub fn prepare_dir(dir: &Path) -> Result<PathBuf, EnvFileError> {
    std::fs::create_dir_all(dir).map_err(|e| EnvFileError::Directory(dir.to_path_buf(), e))?;
    std::fs::canonicalize(dir).map_err(|e| EnvFileError::Directory(dir.to_path_buf(), e))
}

/// Writes `DIR/sandbox.env` (through a temporary file and a rename, so a reader never sees half
/// of it).
pub fn write_env(dir: &Path, env: &SandboxEnv) -> Result<PathBuf, EnvFileError> {
    let path = dir.join(ENV_FILE);
    let partial = dir.join(format!(".{ENV_FILE}.partial"));
    std::fs::write(&partial, env.render()).map_err(|e| EnvFileError::Write(partial.clone(), e))?;
    std::fs::rename(&partial, &path).map_err(|e| EnvFileError::Write(path.clone(), e))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_survive_a_round_trip_even_with_quotes_and_spaces() {
        let mut env = SandboxEnv::default();
        env.set("DATABASE_URL", "postgres://u:p@h:5432/d");
        env.set("ODD", "it's a $HOME `x` value");
        let text = env.render();
        assert!(
            text.contains("DATABASE_URL='postgres://u:p@h:5432/d'\n"),
            "{text}"
        );
        let parsed = SandboxEnv::parse(&text);
        assert_eq!(
            parsed,
            [
                (
                    "DATABASE_URL".to_string(),
                    "postgres://u:p@h:5432/d".to_string()
                ),
                ("ODD".to_string(), "it's a $HOME `x` value".to_string()),
            ]
        );
        assert_eq!(env.get("ODD"), Some("it's a $HOME `x` value"));
    }

    #[test]
    fn a_shell_reads_the_file_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let mut env = SandboxEnv::default();
        env.set("THOTH_X", "a 'b' $c");
        write_env(dir.path(), &env).unwrap();
        let output = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                ". {}/sandbox.env; printf %s \"$THOTH_X\"",
                dir.path().display()
            ))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&output.stdout), "a 'b' $c");
    }
}
