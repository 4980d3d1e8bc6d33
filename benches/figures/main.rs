//! Benchmarks that print figures: `cargo bench --bench figures -- [SECTION...]`.
//! Sections: `schema`, `store`. Without a section every section runs.

mod schema;
mod store;

const SECTIONS: [&str; 2] = ["schema", "store"];

fn main() {
    // cargo passes `--bench` to harness-less benches; only bare words name sections.
    let wanted: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with("--"))
        .collect();
    if let Some(unknown) = wanted.iter().find(|w| !SECTIONS.contains(&w.as_str())) {
        eprintln!(
            "unknown section {unknown:?}; sections: {}",
            SECTIONS.join(", ")
        );
        std::process::exit(2);
    }
    let selected = |section: &str| wanted.is_empty() || wanted.iter().any(|w| w == section);
    if selected("schema") {
        schema::run();
    }
    if selected("store") {
        store::run();
    }
}
