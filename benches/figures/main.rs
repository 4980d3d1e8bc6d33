//! Benchmarks that print figures: `cargo bench --bench figures -- [SECTION]`.

mod store;

fn main() {
    // cargo passes `--bench`; the first other argument names the section.
    let section = std::env::args().skip(1).find(|a| !a.starts_with("--"));
    match section.as_deref() {
        None | Some("store") => store::run(),
        Some(other) => eprintln!("unknown section {other:?}; sections: store"),
    }
}
