//! `slipway diff`: what a change does to a pipeline. Loads the two versions
//! (two files, or one file at a git revision and in the working copy), checks
//! both, and prints what `slipway_core::diff` finds.

use std::path::{Path, PathBuf};
use std::process::Command;

use slipway_core::{Checked, check_bytes, diff};

use super::failure::{Failure, Why};
use super::report::OutputFormat;
use super::{exit, load};

#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DiffFormat {
    /// Lines for people.
    #[default]
    Human,
    /// A pull-request comment.
    Markdown,
    /// One JSON object (errors too, as `validate --format json` prints them).
    Json,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The pipeline before the change (with `--git`: the file, compared with itself at REV).
    pub base: PathBuf,
    /// The pipeline after the change.
    #[arg(required_unless_present = "git", conflicts_with = "git")]
    pub head: Option<PathBuf>,
    /// Compare BASE as it is at this git revision (`main`, `HEAD~1`, a SHA) with the working copy.
    #[arg(long, value_name = "REV")]
    pub git: Option<String>,
    /// How to show the diff.
    #[arg(long, value_enum, default_value_t)]
    pub format: DiffFormat,
}

pub fn run(args: Args) -> i32 {
    let failures = if args.format == DiffFormat::Json { OutputFormat::Json } else { OutputFormat::Human };
    compared(&args).unwrap_or_else(|f| f.report(failures))
}

fn compared(args: &Args) -> Result<i32, Failure> {
    let (base, head) = match (&args.head, &args.git) {
        (Some(head), _) => (load::pipeline(&args.base), load::pipeline(head)),
        (None, Some(rev)) => (at_revision(&args.base, rev), load::pipeline(&args.base)),
        (None, None) => return Err(Failure::new(Why::InvalidArgument, "name the pipeline after the change, or `--git REV`")),
    };
    let (base, head) = match (base, head) {
        (Ok(b), Ok(h)) => (b, h),
        (Err(f), Ok(_)) | (Ok(_), Err(f)) => return Err(f),
        // Both sides' problems, for people; JSON holds one document, the first side's.
        (Err(b), Err(h)) if args.format != DiffFormat::Json => {
            let first = b.report(OutputFormat::Human);
            return Ok(first.max(h.report(OutputFormat::Human)));
        }
        (Err(b), Err(_)) => return Err(b),
    };
    let pipeline = |c: &Checked| c.pipeline.as_ref().expect("valid pipelines decode").clone();
    let d = diff::diff((&pipeline(&base), &base.dag), (&pipeline(&head), &head.dag));
    let text = match args.format {
        DiffFormat::Human => diff::human(&d),
        DiffFormat::Markdown => diff::markdown(&d),
        DiffFormat::Json => format!("{}\n", serde_json::to_string_pretty(&d).unwrap_or_default()),
    };
    let _ = std::io::Write::write_all(&mut std::io::stdout(), text.as_bytes());
    Ok(exit::OK)
}

/// `file` as git has it at `rev`, checked like a file on disk. Git runs in the
/// file's folder and is given the path relative to it (`REV:./name`), so the
/// file may sit anywhere in the repository.
fn at_revision(file: &Path, rev: &str) -> Result<Checked, Failure> {
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let shown = format!("{}@{rev}", file.display());
    if rev.starts_with('-') {
        return Err(Failure::new(Why::InvalidArgument, format!("--git {rev}: not a revision")).file(file));
    }
    let out = Command::new("git").arg("-C").arg(dir).args(["show", "--no-textconv", &format!("{rev}:./{name}")]).output().map_err(|e| {
        Failure::new(Why::Io, format!("cannot run git to read {shown}: {e}"))
            .file(file)
            .help("install git, or compare two files: `slipway diff BASE HEAD`")
    })?;
    if !out.status.success() {
        let why = String::from_utf8_lossy(&out.stderr).trim().replace('\n', "; ");
        return Err(Failure::new(Why::Io, format!("cannot read {shown} from git: {why}"))
            .file(file)
            .help("name a revision that has the file, e.g. `--git main` or `--git HEAD~1`"));
    }
    let checked = check_bytes(&shown, &out.stdout);
    if !checked.is_valid() {
        return Err(Failure::invalid(checked));
    }
    Ok(checked)
}
