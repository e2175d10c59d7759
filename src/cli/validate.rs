//! `slipway validate`: every problem in every file, in one run.

use std::io::Write;
use std::path::PathBuf;

use slipway_core::render;
use slipway_core::{Checked, check_bytes};

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
    /// `{"diagnostics":[…]}`, for machines.
    Json,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Pipeline files, or folders of them.
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
    let paths = match files::expand(&args.paths) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    let mut checked = Vec::new();
    let mut io_failed = false;
    for path in &paths {
        match files::read(path) {
            Ok(Contents::Bytes(bytes)) => checked.push(check_bytes(&path.display().to_string(), &bytes)),
            Ok(Contents::TooLarge) => checked.push(Checked::too_large(&path.display().to_string())),
            Err(e) => {
                eprintln!("error: {e}");
                io_failed = true;
            }
        }
    }
    let stdout = std::io::stdout();
    let color = args.color.enabled(&stdout);
    let text = render_all(&checked, args.format, color);
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

pub fn render_all(checked: &[Checked], format: Format, color: bool) -> String {
    let items = checked.iter().flat_map(|c| c.diagnostics.iter().map(move |d| (&c.file, d)));
    match format {
        Format::Json => {
            let mut s = render::json_report(items);
            s.push('\n');
            s
        }
        Format::Github => items.map(|(f, d)| render::github(f, d) + "\n").collect(),
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
