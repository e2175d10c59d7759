//! `slipway graph`: the stage DAG, explicit and implicit edges.

use std::path::PathBuf;

use slipway_core::{check_bytes, render};

use super::validate::{Format, render_all};
use super::{exit, files};

#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GraphFormat {
    #[default]
    Mermaid,
    Dot,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    pub file: PathBuf,
    #[arg(long, value_enum, default_value_t)]
    pub format: GraphFormat,
}

pub fn run(args: Args) -> i32 {
    let bytes = match files::read(&args.file) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    let checked = check_bytes(&args.file.display().to_string(), &bytes);
    if !checked.is_valid() {
        eprint!("{}", render_all(std::slice::from_ref(&checked), Format::Human, false));
        return exit::INVALID;
    }
    let name = checked.pipeline.as_ref().map_or("pipeline", |p| p.name.as_str());
    match args.format {
        GraphFormat::Mermaid => print!("{}", render::mermaid(&checked.dag)),
        GraphFormat::Dot => print!("{}", render::dot(&checked.dag, name)),
    }
    exit::OK
}
