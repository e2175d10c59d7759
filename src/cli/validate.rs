//! `slipway validate`: every problem in every file, in one run.

use std::io::Write;
use std::path::PathBuf;

use slipway_core::render;
use slipway_core::validate::found_looks_like_pipeline;
use slipway_core::{Checked, check_bytes, check_found};

use super::exit;
use super::files::{self, Contents};
use super::style::ColorChoice;

#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// Code frames with ` --> file:line:col`, for people.
    #[default]
    Human,
    /// GitHub Actions annotations, shown inline on the pull request.
    Github,
    /// A GitLab Code Quality report (JSON), shown on the merge request.
    Gitlab,
    /// `{"diagnostics":[…]}`, for machines.
    Json,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Pipeline files, or folders to search with their subfolders (hidden ones
    /// and `target/` left out); YAML found there that is not a pipeline is
    /// skipped and counted.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// How to print the problems found.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// Fail (exit 1) on warnings too.
    #[arg(long)]
    pub deny_warnings: bool,
    /// Colour the human output (`NO_COLOR` turns `auto` off).
    #[arg(long, value_enum, default_value_t)]
    pub color: ColorChoice,
}

pub fn run(args: Args) -> i32 {
    let targets = match files::expand(&args.paths) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    let mut checked = Vec::new();
    let mut io_failed = false;
    let mut skipped = 0usize;
    for target in &targets {
        let name = target.path.display().to_string();
        match files::read(&target.path) {
            Ok(Contents::Bytes(bytes)) if target.found => match check_found(&name, &bytes) {
                Some(mut c) => {
                    super::chatops_config::check_references(&mut c, &target.path);
                    checked.push(c)
                }
                None => skipped += skip(&name),
            },
            Ok(Contents::Bytes(bytes)) => {
                let mut c = check_bytes(&name, &bytes);
                super::chatops_config::check_references(&mut c, &target.path);
                checked.push(c)
            }
            Ok(Contents::TooLarge) if target.found && !found_looks_like_pipeline(&files::head(&target.path, 64 << 10)) => {
                skipped += skip(&name)
            }
            Ok(Contents::TooLarge) => checked.push(Checked::too_large(&name)),
            Err(e) => {
                eprintln!("error: {e}");
                io_failed = true;
                if args.format != Format::Human {
                    // machines read a file that could not be read as an `io` diagnostic
                    checked.push(Checked::unreadable(&name, e));
                }
            }
        }
    }
    let stdout = std::io::stdout();
    let color = args.color.enabled(&stdout);
    let text = match args.format {
        // the read error is on stderr; "0 files checked: no problems" beside it would mislead
        Format::Human if checked.is_empty() && io_failed => String::new(),
        Format::Human if skipped > 0 => format!("{}{}\n", render_all(&checked, args.format, color), skipped_line(skipped)),
        _ => render_all(&checked, args.format, color),
    };
    let mut out = stdout.lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
    let errors: usize = checked.iter().map(Checked::errors).sum();
    let warnings: usize = checked.iter().map(Checked::warnings).sum();
    // The process ends next: freeing every node of a large pipeline one by one
    // would only delay the exit (a third of the run for 10,000 stages).
    std::mem::forget(checked);
    if io_failed {
        exit::USAGE
    } else if errors > 0 || (args.deny_warnings && warnings > 0) {
        exit::INVALID
    } else {
        exit::OK
    }
}

/// Notes a found file that is not a pipeline (shown with `-v`); counts one.
fn skip(name: &str) -> usize {
    tracing::debug!("skipped {name}: not a pipeline");
    1
}

/// `2 YAML files skipped: not pipelines`: files found in a folder that are
/// some other YAML (workflows, Compose files, configuration).
fn skipped_line(n: usize) -> String {
    let files = if n == 1 { "1 YAML file" } else { &format!("{n} YAML files") };
    format!("{files} skipped: not pipelines")
}

pub fn render_all(checked: &[Checked], format: Format, color: bool) -> String {
    let items = checked.iter().flat_map(|c| c.diagnostics.iter().map(move |d| (&c.file, d)));
    match format {
        Format::Json => {
            let mut s = render::json_report(items);
            s.push('\n');
            s
        }
        Format::Github => items.map(|(f, d)| render::github(f, d) + "\n").collect(),
        Format::Gitlab => render::gitlab_report(items) + "\n",
        Format::Human => {
            let mut s: String = items.map(|(f, d)| render::human(f, d, color) + "\n\n").collect();
            let errors = checked.iter().map(Checked::errors).sum();
            let warnings = checked.iter().map(Checked::warnings).sum();
            s.push_str(&render::summary(errors, warnings, checked.len()));
            s.push('\n');
            s
        }
    }
}
