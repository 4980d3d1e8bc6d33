//! Benchmarks that print figures: `cargo bench --bench figures -- [SECTION]`.
//! Sections: `schema`. Without a section every section runs.

mod schema;

fn main() {
    // cargo passes `--bench` to harness-less benches; only bare words name sections.
    let wanted: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with("--"))
        .collect();
    let selected = |section: &str| wanted.is_empty() || wanted.iter().any(|w| w == section);
    if selected("schema") {
        schema::run();
    }
}
