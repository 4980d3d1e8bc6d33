//! Benchmarks that print figures: `cargo bench --bench figures -- [SECTION]`.

fn main() {}
