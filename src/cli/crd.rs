//! `crd`: the CustomResourceDefinitions as YAML, printed or written one file each.

#[derive(Debug, clap::Args)]
pub struct CrdArgs {
    /// Write one file per CRD (`<name>.yaml`) into this directory instead of printing.
    /// `thoth-operator crd --output-dir crds` regenerates the committed copies.
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<std::path::PathBuf>,
}

pub(super) fn print_crds(args: CrdArgs) -> anyhow::Result<()> {
    use anyhow::Context;
    match args.output_dir {
        None => print!("{}", crate::api::crds_yaml()?),
        Some(dir) => {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create directory {}", dir.display()))?;
            for crd in crate::api::all_crds() {
                let path = dir.join(crate::api::crd_file_name(&crd));
                std::fs::write(&path, crate::api::crd_yaml(&crd)?)
                    .with_context(|| format!("cannot write {}", path.display()))?;
                eprintln!("wrote {}", path.display());
            }
        }
    }
    Ok(())
}
