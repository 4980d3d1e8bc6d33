//! The import rules of the layout (README, "Architecture"), checked on the source
//! text of `src/`: `reconcile` and `ingest` never import each other; `store` imports
//! nothing of the operator but `package` and `terms` (a leaf that imports nothing); `api` and `messages` never import `store`;
//! no module but `cli` imports `sandbox`; no module but `cli` and `sandbox` imports the in-memory
//! API server crate. A `use` item is read whole, however many lines rustfmt spreads it over. A
//! module that does not exist yet is checked as soon as it appears.

use std::path::{Path, PathBuf};

/// An import that breaks a rule: the file, the line, and the rule it breaks.
#[derive(Debug, PartialEq, Eq)]
struct Violation {
    file: String,
    line: usize,
    rule: &'static str,
}

/// Whether module `from` may name module `to` of the operator crate (both top-level).
fn forbidden(from: &str, to: &str) -> Option<&'static str> {
    match (from, to) {
        (a, b) if a == b => None,
        ("reconcile", "ingest") => Some("reconcile must not import ingest"),
        ("ingest", "reconcile") => Some("ingest must not import reconcile"),
        ("terms", _) => Some("terms is a leaf: it imports nothing of the operator"),
        ("store", "package" | "terms") => None,
        ("store", _) => Some("store imports nothing of the operator but package and terms"),
        ("api" | "messages", "store") => Some("api and messages must not import store"),
        (from, "sandbox") if from != "cli" => Some("only cli imports sandbox"),
        _ => None,
    }
}

/// The top-level module a file under `src/` belongs to (`store/outbox.rs` → `store`,
/// `package.rs` → `package`, `lib.rs` → ``), and its module path.
fn module_path(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The code of a line without its `//` comment (string literals are left alone:
/// an import never hides in one, and `"//"` only shortens what is scanned).
fn code(line: &str) -> &str {
    line.find("//").map_or(line, |i| &line[..i])
}

/// Whether `code` (a line without its comment) starts a `use` item, e.g. `pub(crate) use x::{`.
fn starts_use(code: &str) -> bool {
    let mut rest = code.trim_start();
    if let Some(after) = rest.strip_prefix("pub") {
        rest = after.trim_start();
        if rest.starts_with('(') {
            rest = rest
                .find(')')
                .map_or("", |end| &rest[end + 1..])
                .trim_start();
        }
    }
    rest.strip_prefix("use")
        .is_some_and(|after| after.starts_with(char::is_whitespace) || after.starts_with('{'))
}

/// The code of `source` (comments removed) as numbered statements: a `use` item is joined to
/// its `;` and numbered by its first line, since rustfmt spreads a long import group over
/// several (`use crate::{` / `    store::Store,` / `};`); every other line stands alone.
fn statements(source: &str) -> Vec<(usize, String)> {
    let mut found: Vec<(usize, String)> = Vec::new();
    let mut open_use = false;
    for (index, line) in source.lines().enumerate() {
        let line = code(line);
        if open_use && let Some((_, item)) = found.last_mut() {
            item.push(' ');
            item.push_str(line.trim());
        } else {
            open_use = starts_use(line);
            found.push((index + 1, line.to_string()));
        }
        if open_use && line.contains(';') {
            open_use = false;
        }
    }
    found
}

fn identifier(text: &str) -> &str {
    let end = text
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    &text[..end]
}

/// The first segments named after `prefix::` in `text`: `crate::store::X` gives
/// `store`; `crate::{store, package::Y}` gives `store` and `package`.
fn named_after(text: &str, prefix: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(prefix) {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + prefix.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let after = rest.trim_start();
        if let Some(group) = after.strip_prefix('{') {
            let mut depth = 0usize;
            let mut start = 0usize;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        found.push(identifier(group[start..i].trim()).to_string());
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        found.push(identifier(group[start..i].trim()).to_string());
                        start = i + 1;
                    }
                    _ => {}
                }
            }
        } else {
            found.push(identifier(after).to_string());
        }
    }
    found.retain(|name| !name.is_empty() && name != "self");
    found
}

/// Every top-level operator module `source` (the text of a file at `path`, a module
/// path such as `["store", "outbox"]`) names, with its line number: through
/// `crate::`, `thoth_operator::`, or enough `super::` to leave its top-level module.
fn operator_imports(path: &[String], source: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (number, line) in statements(source) {
        let line = line.as_str();
        for prefix in ["crate::", "thoth_operator::"] {
            for name in named_after(line, prefix) {
                found.push((number, name));
            }
        }
        // `super::super::x` from `store/outbox.rs` reaches the crate root, then `x`.
        let mut rest = line;
        while let Some(at) = rest.find("super::") {
            let chain = &rest[at..];
            let mut levels = 0;
            let mut remainder = chain;
            while let Some(next) = remainder.strip_prefix("super::") {
                levels += 1;
                remainder = next;
            }
            if levels >= path.len() {
                for name in named_after(&format!("root::{remainder}"), "root::") {
                    found.push((number, name));
                }
            }
            rest = &chain["super::".len() * levels..];
        }
    }
    found
}

/// Lines of `source` that name the `apiserver` crate: a path starting with
/// `apiserver::` or `::apiserver::`, or `use apiserver`. (`crate::apiserver::` or
/// `super::apiserver::` would be a module of the operator's own.)
fn apiserver_imports(source: &str) -> Vec<usize> {
    let names_crate = |line: &str| {
        let mut rest = line;
        while let Some(at) = rest.find("apiserver") {
            let before = rest[..at].trim_end();
            let after = &rest[at + "apiserver".len()..];
            rest = after;
            let ends_in_word =
                |text: &str| text.ends_with(|c: char| c.is_alphanumeric() || c == '_');
            let after_use = before == "use" || before.ends_with(" use");
            let starts_path = match before.strip_suffix("::") {
                // `::apiserver::` names the crate; `x::apiserver::` a module.
                Some(head) => !ends_in_word(head),
                None => !ends_in_word(before) || after_use,
            };
            let is_path = after.starts_with("::")
                || (after_use && !after.starts_with(|c: char| c.is_alphanumeric() || c == '_'));
            if starts_path && is_path {
                return true;
            }
        }
        false
    };
    statements(source)
        .into_iter()
        .filter(|(_, line)| names_crate(line))
        .map(|(number, _)| number)
        .collect()
}

/// The violations in one file, given its path relative to `src/`.
fn check(relative: &Path, source: &str) -> Vec<Violation> {
    let path = module_path(relative);
    let Some(top) = path.first() else {
        return Vec::new();
    };
    let file = relative.display().to_string();
    let mut violations: Vec<Violation> = operator_imports(&path, source)
        .into_iter()
        .filter_map(|(line, to)| {
            forbidden(top, &to).map(|rule| Violation {
                file: file.clone(),
                line,
                rule,
            })
        })
        .collect();
    if top != "cli" && top != "sandbox" {
        violations.extend(apiserver_imports(source).into_iter().map(|line| Violation {
            file: file.clone(),
            line,
            rule: "only cli and sandbox may import the apiserver crate",
        }));
    }
    violations
}

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

#[test]
fn the_operator_source_keeps_the_forbidden_imports_out() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(files.len() > 20, "only {} files under src/", files.len());
    let violations: Vec<Violation> = files
        .iter()
        .flat_map(|file| {
            let source = std::fs::read_to_string(file).expect("source reads");
            check(file.strip_prefix(&src).expect("under src"), &source)
        })
        .collect();
    assert!(violations.is_empty(), "{violations:#?}");
}

fn rules_broken(file: &str, source: &str) -> Vec<&'static str> {
    check(Path::new(file), source)
        .into_iter()
        .map(|v| v.rule)
        .collect()
}

#[test]
fn each_forbidden_import_is_caught_in_every_spelling() {
    let store = "store imports nothing of the operator but package and terms";
    assert_eq!(
        rules_broken("terms.rs", "use crate::package::PackageName;"),
        ["terms is a leaf: it imports nothing of the operator"]
    );
    assert!(rules_broken("store/attempts.rs", "use crate::terms::ResourceKind;").is_empty());
    assert_eq!(
        rules_broken("store/outbox.rs", "use crate::api::SolverRun;"),
        [store]
    );
    assert_eq!(
        rules_broken(
            "store/outbox.rs",
            "use crate::{package::PackageName, messages};"
        ),
        [store]
    );
    assert_eq!(
        rules_broken(
            "store/outbox.rs",
            "    let x = super::super::ingest::run();"
        ),
        [store]
    );
    // rustfmt's spelling of an import group too long for one line.
    assert_eq!(
        rules_broken(
            "store/outbox.rs",
            "use crate::{\n    messages::Topic,\n    package::PackageName,\n};"
        ),
        [store]
    );
    assert_eq!(
        rules_broken("reconcile/run.rs", "use thoth_operator::ingest::Consumer;"),
        ["reconcile must not import ingest"]
    );
    assert_eq!(
        rules_broken("ingest.rs", "use super::reconcile::Controller;"),
        ["ingest must not import reconcile"]
    );
    assert_eq!(
        rules_broken("messages/parse.rs", "fn f(s: &crate::store::Store) {}"),
        ["api and messages must not import store"]
    );
    assert_eq!(
        rules_broken("api/mod.rs", "use crate::store;"),
        ["api and messages must not import store"]
    );
    assert_eq!(
        rules_broken("reconcile/run.rs", "use crate::sandbox::Sandbox;"),
        ["only cli imports sandbox"]
    );
    assert_eq!(
        rules_broken(
            "ingest/consumer.rs",
            "pub(crate) use crate::{\n    messages::Topic,\n    sandbox::kafka,\n};"
        ),
        ["only cli imports sandbox"]
    );
    let apiserver = "only cli and sandbox may import the apiserver crate";
    assert_eq!(
        rules_broken("reconcile/run.rs", "use apiserver::ApiServer;"),
        [apiserver]
    );
    assert_eq!(
        rules_broken(
            "admission/apply.rs",
            "let s = ::apiserver::ApiServer::builder();"
        ),
        [apiserver]
    );
    assert_eq!(
        rules_broken("telemetry.rs", "use apiserver as kube_api;"),
        [apiserver]
    );
}

#[test]
fn allowed_imports_and_comments_are_not_violations() {
    for (file, source) in [
        ("store/outbox.rs", "use crate::package::PackageName;"),
        ("store/outbox.rs", "use super::error::StoreError;"),
        ("store/outbox.rs", "use crate::store::Store;"),
        ("store/mod.rs", "// crate::api is what calls us"),
        ("reconcile/run.rs", "use crate::messages::Topic;"),
        ("api/mod.rs", "use crate::package::PackageName;"),
        ("cli/apiserver.rs", "use apiserver::ApiServer;"),
        (
            "cli/sandbox.rs",
            "use crate::sandbox::{Sandbox, SandboxConfig};",
        ),
        ("sandbox/demo.rs", "use crate::sandbox::argo::ArgoStandIn;"),
        (
            "store/outbox.rs",
            "use crate::{\n    package::PackageName, // the key\n    terms::ResourceKind,\n};",
        ),
        (
            "reconcile/run.rs",
            "let user = 1;\nlet x = crate::store::Store::connect;",
        ),
        (
            "sandbox/mod.rs",
            "use apiserver::{ApiServer, ApiServerBuilder};",
        ),
        (
            "cli/mod.rs",
            "Command::Apiserver(args) => apiserver::serve(args).await,",
        ),
        ("lib.rs", "pub mod store;"),
        ("reconcile/run.rs", "use crate::reconcile::apiserver::Fake;"),
        ("reconcile/run.rs", "let my_apiserver = 1;"),
    ] {
        assert_eq!(
            rules_broken(file, source),
            Vec::<&str>::new(),
            "{file}: {source}"
        );
    }
}
