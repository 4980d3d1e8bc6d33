//! Benchmarks that print figures: `cargo bench --bench figures -- [SECTION]`.
//! Each section is a module with `run()`; without a section, all run.

mod apiserver;

const SECTIONS: &[(&str, fn())] = &[("apiserver", apiserver::run)];

fn main() {
    // cargo passes `--bench`; the first argument that is not a flag names the section.
    let wanted = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let mut ran = false;
    for (name, run) in SECTIONS {
        if wanted.as_deref().is_none_or(|w| w == *name) {
            run();
            ran = true;
        }
    }
    if !ran {
        let known: Vec<&str> = SECTIONS.iter().map(|(n, _)| *n).collect();
        eprintln!("unknown section {wanted:?}; known: {}", known.join(", "));
        std::process::exit(2);
    }
}
