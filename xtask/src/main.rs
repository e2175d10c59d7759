//! Project chores: `cargo xtask schema [--check]`, `cargo xtask bench validate`,
//! `cargo xtask fuzz [--minutes N] [--target all|validate|masker]`.

mod bench;
mod bench_changelog;
mod bench_deploy;
mod bench_exec;
mod bench_fleet;
mod bench_pg;
mod fuzz;

use std::path::PathBuf;

use anyhow::{Context, Result, bail};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["schema"] => schema(false),
        ["schema", "--check"] => schema(true),
        ["bench", "validate", rest @ ..] => bench::validate(rest),
        ["bench", "exec", rest @ ..] => bench_exec::exec(rest),
        ["bench", "fleet", rest @ ..] => bench_fleet::fleet(rest),
        ["bench", "changelog", rest @ ..] => bench_changelog::changelog(rest),
        ["fuzz", rest @ ..] => fuzz::run(rest),
        _ => bail!(
            "usage: cargo xtask schema [--check] | bench validate [--quick] | bench exec [--quick] [--bin PATH] | bench fleet [--quick] [--bin PATH] | bench changelog [--quick] [--bin PATH] | fuzz [--minutes N] [--seed N] [--target all|validate|masker]"
        ),
    }
}

/// The `slipway` binary a bench times: `--bin PATH` (another build, say
/// main's, for before and after), else this checkout's release build, made
/// now, under `CARGO_TARGET_DIR` when that is set.
pub fn slipway_bin(args: &[&str]) -> Result<PathBuf> {
    if let Some(i) = args.iter().position(|a| *a == "--bin") {
        return Ok(std::path::absolute(args.get(i + 1).context("--bin needs a path")?)?);
    }
    let status =
        std::process::Command::new("cargo").args(["build", "--release", "--quiet", "--bin", "slipway"]).current_dir(root()).status()?;
    if !status.success() {
        bail!("release build failed");
    }
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from);
    Ok(target.join("release/slipway"))
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_path_buf()
}

/// Writes `schemas/pipeline.schema.json` and `docs/reference.md` from the Rust
/// types, or checks they are current.
fn schema(check: bool) -> Result<()> {
    generated("schemas/pipeline.schema.json", slipway_core::schema::pipeline_schema_json(), check)?;
    generated("schemas/chatops.schema.json", slipway_core::schema::chatops_schema_json(), check)?;
    generated("docs/reference.md", slipway_core::reference::reference_markdown(), check)
}

fn generated(rel: &str, generated: String, check: bool) -> Result<()> {
    let path = root().join(rel);
    if check {
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        if on_disk != generated {
            bail!("{} is stale: run `cargo xtask schema`", path.display());
        }
        println!("{} is current", path.display());
    } else {
        std::fs::write(&path, generated).with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
