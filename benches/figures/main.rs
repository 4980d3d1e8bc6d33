//! Benchmarks that print figures: `cargo bench --bench figures -- [SECTION...]`.
//! Each section is a module with `run()`; without a section, all run. A section that fails (no
//! PostgreSQL, a failed write, fewer rows written than timed) makes the run exit with status 1
//! after the other sections ran; a panic ends it at once with Rust's status 101.

mod apiserver;
mod controller;
mod ingest;
mod schema;
mod store;

type Section = fn() -> Result<(), Box<dyn std::error::Error>>;

const SECTIONS: &[(&str, Section)] = &[
    ("apiserver", apiserver::run),
    ("controller", controller::run),
    ("ingest", ingest::run),
    ("schema", schema::run),
    ("store", store::run),
];

fn main() {
    // RUST_LOG=thoth_operator=debug shows what the operator did during a section (to stderr).
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    // cargo passes `--bench` to harness-less benches; only bare words name sections.
    let wanted: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with('-'))
        .collect();
    let known: Vec<&str> = SECTIONS.iter().map(|(name, _)| *name).collect();
    if let Some(unknown) = wanted.iter().find(|w| !known.contains(&w.as_str())) {
        eprintln!("unknown section {unknown:?}; known: {}", known.join(", "));
        std::process::exit(2);
    }
    let mut failed = Vec::new();
    for (name, run) in SECTIONS {
        if (wanted.is_empty() || wanted.iter().any(|w| w == name))
            && let Err(err) = run()
        {
            let mut message = err.to_string();
            let mut source = err.source();
            while let Some(cause) = source {
                message.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            eprintln!("{name} failed: {message}");
            failed.push(*name);
        }
    }
    if !failed.is_empty() {
        eprintln!("failed sections: {}", failed.join(", "));
        std::process::exit(1);
    }
}
