//! The Dockerfile: the paths, binary and build command it uses are the crate's.

use std::collections::BTreeSet;

use super::*;

#[test]
fn the_dockerfile_builds_the_crates_binary_without_default_features_and_runs_it_as_non_root() {
    let dockerfile = read("Dockerfile");
    let manifest = cargo_manifest::Manifest::read(&read("Cargo.toml"));
    let binary = manifest.binary_name();
    let instructions: Vec<&str> = dockerfile
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let stages: Vec<&&str> = instructions
        .iter()
        .filter(|l| l.starts_with("FROM "))
        .collect();
    assert_eq!(stages.len(), 2, "a build stage and a runtime stage");
    // Every path the build stage copies exists in the crate.
    let mut copied = BTreeSet::new();
    for line in instructions
        .iter()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from"))
    {
        let parts: Vec<&str> = line.split_whitespace().skip(1).collect();
        for source in &parts[..parts.len() - 1] {
            assert!(
                root().join(source).exists(),
                "the Dockerfile copies {source}, which the crate lacks"
            );
            copied.insert(source.trim_end_matches('/').to_string());
        }
    }
    // What cargo needs to build: the manifest, lock file, build script, sources, embedded
    // migrations, declared targets and workspace members — copied, and not in .dockerignore.
    let ignored: Vec<String> = read(".dockerignore")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.trim_end_matches('/').to_string())
        .collect();
    for needed in manifest.paths_cargo_needs() {
        assert!(
            copied
                .iter()
                .any(|c| needed == *c || needed.starts_with(&format!("{c}/"))),
            "the Dockerfile does not copy {needed}, which cargo needs"
        );
        assert!(
            !ignored
                .iter()
                .any(|i| needed == *i || needed.starts_with(&format!("{i}/"))),
            ".dockerignore leaves out {needed}, which cargo needs"
        );
    }
    // The build image's Rust is at least the crate's rust-version.
    let image_rust = stages[0]
        .split_whitespace()
        .nth(1)
        .and_then(|image| {
            image
                .rsplit_once(":rust:")
                .or_else(|| image.rsplit_once("/rust:"))
        })
        .map(|(_, tag)| tag.split('-').next().unwrap_or(tag).to_string())
        .expect("the build stage is FROM a rust image");
    let version =
        |v: &str| -> Vec<u32> { v.split('.').map(|p| p.parse().expect("number")).collect() };
    assert!(
        version(&image_rust) >= version(&manifest.rust_version()),
        "the build image has Rust {image_rust}, the crate needs {}",
        manifest.rust_version()
    );
    let build = format!("cargo build --release --locked --no-default-features --bin {binary}");
    assert!(
        dockerfile.contains(&build),
        "the build command is not `{build}`"
    );
    assert!(
        dockerfile.contains(&format!("target/release/{binary} ")),
        "the Dockerfile does not take target/release/{binary}"
    );
    // rdkafka's `ssl` feature links the system OpenSSL: the build stage installs its headers and
    // pkg-config, and the runtime image has the library (distroless `cc` carries libssl3, `static`
    // does not).
    if manifest
        .workspace_dependency_features("rdkafka")
        .contains(&"ssl".to_string())
    {
        let build_stage: Vec<&&str> = instructions
            .iter()
            .take_while(|l| !std::ptr::eq(**l, *stages[1]))
            .collect();
        for package in ["libssl-dev", "pkg-config"] {
            assert!(
                build_stage
                    .iter()
                    .any(|l| l.contains("apt-get install") && l.contains(package)),
                "rdkafka links OpenSSL, but the build stage does not install {package}"
            );
        }
        assert!(
            stages[1].contains("distroless/cc-"),
            "rdkafka links OpenSSL, but the runtime image {} may lack libssl",
            stages[1]
        );
    }
    let runtime: Vec<&&str> = instructions
        .iter()
        .skip_while(|l| !std::ptr::eq(**l, *stages[1]))
        .collect();
    assert!(
        runtime
            .iter()
            .any(|l| l.starts_with("USER ") && !l.contains("root") && !l.starts_with("USER 0")),
        "the runtime stage does not switch to a non-root user"
    );
    assert!(
        runtime
            .iter()
            .any(|l| l.starts_with("ENTRYPOINT ") && l.contains(&format!("/{binary}\""))),
        "the runtime stage does not run {binary}"
    );
    assert!(
        runtime.iter().any(|l| l.contains("[\"run\"]")),
        "the image does not default to `{binary} run`"
    );
}

/// What a container build needs from Cargo.toml: the binary's name and every path cargo reads.
mod cargo_manifest {
    use toml_edit::{DocumentMut, Item};

    pub struct Manifest(DocumentMut);

    impl Manifest {
        pub fn read(text: &str) -> Self {
            Self(text.parse().expect("Cargo.toml parses"))
        }

        /// `[[bin]]` tables (or `[lib]`, a single table) as a list.
        fn targets(&self, section: &str) -> Vec<&toml_edit::Table> {
            match self.0.get(section) {
                Some(Item::ArrayOfTables(tables)) => tables.iter().collect(),
                Some(Item::Table(table)) => vec![table],
                _ => Vec::new(),
            }
        }

        /// `package.rust-version`, or the workspace's when the package inherits it.
        pub fn rust_version(&self) -> String {
            let own = self.0["package"].get("rust-version").and_then(Item::as_str);
            let inherited = self
                .0
                .get("workspace")
                .and_then(|w| w.get("package"))
                .and_then(|p| p.get("rust-version"))
                .and_then(Item::as_str);
            own.or(inherited)
                .expect("package.rust-version or workspace.package.rust-version")
                .to_string()
        }

        /// The features `[workspace.dependencies]` turns on for `name`.
        pub fn workspace_dependency_features(&self, name: &str) -> Vec<String> {
            self.0
                .get("workspace")
                .and_then(|w| w.get("dependencies"))
                .and_then(|d| d.get(name))
                .and_then(|d| d.get("features"))
                .and_then(Item::as_array)
                .into_iter()
                .flatten()
                .filter_map(|f| f.as_str().map(String::from))
                .collect()
        }

        pub fn binary_name(&self) -> String {
            let names: Vec<&str> = self
                .targets("bin")
                .iter()
                .filter_map(|t| t.get("name").and_then(Item::as_str))
                .collect();
            assert_eq!(names.len(), 1, "one [[bin]] in Cargo.toml");
            names[0].to_string()
        }

        pub fn paths_cargo_needs(&self) -> Vec<String> {
            let mut paths: Vec<String> = ["Cargo.toml", "Cargo.lock", "src", "migrations"]
                .map(String::from)
                .to_vec();
            let build = self.0["package"].get("build").and_then(Item::as_str);
            if let Some(build) = build {
                paths.push(build.to_string());
            } else if std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/build.rs"))
                .exists()
            {
                paths.push("build.rs".to_string());
            }
            for section in ["lib", "bin", "bench", "example", "test"] {
                for target in self.targets(section) {
                    if let Some(path) = target.get("path").and_then(Item::as_str) {
                        paths.push(path.to_string());
                    }
                }
            }
            let members = self
                .0
                .get("workspace")
                .and_then(|w| w.get("members"))
                .and_then(Item::as_array);
            for member in members.into_iter().flatten().filter_map(|m| m.as_str()) {
                if member != "." {
                    paths.push(member.trim_end_matches("/*").to_string());
                }
            }
            paths
        }
    }
}
