//! `slipway graph`: the stage DAG, explicit and implicit edges.

use std::path::PathBuf;

use slipway_core::render;

use super::{exit, load};

#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GraphFormat {
    /// A Mermaid flowchart (GitHub renders it in Markdown).
    #[default]
    Mermaid,
    /// Graphviz DOT (`dot -Tsvg`).
    Dot,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The pipeline file.
    pub file: PathBuf,
    /// The graph language to print.
    #[arg(long, value_enum, default_value_t)]
    pub format: GraphFormat,
}

pub fn run(args: Args) -> i32 {
    let checked = match load::valid_pipeline(&args.file) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let name = checked.pipeline.as_ref().map_or("pipeline", |p| p.name.as_str());
    match args.format {
        GraphFormat::Mermaid => print!("{}", render::mermaid(&checked.dag)),
        GraphFormat::Dot => print!("{}", render::dot(&checked.dag, name)),
    }
    exit::OK
}
