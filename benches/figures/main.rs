//! Benchmarks that print figures: `cargo bench --bench figures -- [SECTION...]`.
//! Each section is a module with `run()`; without a section, all run.

mod apiserver;
mod ingest;
mod schema;
mod store;

const SECTIONS: &[(&str, fn())] = &[
    ("apiserver", apiserver::run),
    ("ingest", ingest::run),
    ("schema", schema::run),
    ("store", store::run),
];

fn main() {
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
    for (name, run) in SECTIONS {
        if wanted.is_empty() || wanted.iter().any(|w| w == name) {
            run();
        }
    }
}
