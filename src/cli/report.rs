//! Showing a run as it happens: a live view on a terminal (one line per running
//! stage), one line per event in CI logs, or JSON lines for machines; then a
//! summary of every stage.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use slipway_engine::event::{Event, RunStatus, StageStatus};
use tokio::sync::mpsc;

#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OutputFormat {
    /// Lines for people (a live view on a terminal).
    #[default]
    Human,
    /// One JSON event per line.
    Json,
}

/// Per stage: status, attempts, duration, for the summary.
#[derive(Default)]
pub struct Summary {
    rows: BTreeMap<String, (StageStatus, u32, u64, Option<String>)>,
    /// Stages a resume took from the journal instead of running them.
    reused: std::collections::HashSet<String>,
    /// Stages in the order they first appeared.
    order: Vec<String>,
    seen: std::collections::HashSet<String>,
    /// Per-host lines of stages that ran on hosts (their `hosts` output).
    hosts: BTreeMap<String, Vec<String>>,
}

impl Summary {
    fn appear(&mut self, stage: &str) {
        if self.seen.insert(stage.to_owned()) {
            self.order.push(stage.to_owned());
        }
    }
}

/// Consumes events until the channel closes; returns the summary.
pub async fn report(mut rx: mpsc::UnboundedReceiver<Event>, format: OutputFormat) -> Summary {
    let live = format == OutputFormat::Human && std::io::stderr().is_terminal() && std::env::var_os("CI").is_none();
    let mp = MultiProgress::new();
    let mut bars: BTreeMap<String, ProgressBar> = BTreeMap::new();
    let mut summary = Summary::default();
    while let Some(event) = rx.recv().await {
        track(&mut summary, &event);
        match format {
            OutputFormat::Json => {
                let mut out = std::io::stdout().lock();
                let _ = serde_json::to_writer(&mut out, &event);
                let _ = out.write_all(b"\n");
            }
            OutputFormat::Human if live => live_view(&mp, &mut bars, &event),
            OutputFormat::Human => {
                if let Some(line) = line(&event) {
                    // A reader that went away loses the lines, never the run.
                    let _ = writeln!(std::io::stdout().lock(), "{line}");
                }
            }
        }
    }
    for bar in bars.values() {
        bar.finish_and_clear();
    }
    summary
}

fn track(s: &mut Summary, e: &Event) {
    match e {
        Event::StageStarted { stage, .. } => s.appear(stage),
        Event::StageFinished { stage, status, attempts, duration_ms, reason, outputs, .. } => {
            s.appear(stage);
            s.rows.insert(stage.clone(), (*status, *attempts, *duration_ms, reason.clone()));
            // A deploy's `hosts` are names; its `host_releases` say where each host is.
            if let Some(hosts) = outputs.get("host_releases").or_else(|| outputs.get("hosts")).and_then(|h| h.as_array()) {
                s.hosts.insert(stage.clone(), hosts.iter().filter(|h| h.is_object()).map(host_line).collect());
            }
        }
        Event::StageReused { stage, .. } => {
            s.appear(stage);
            s.reused.insert(stage.clone());
        }
        _ => {}
    }
}

/// `  web-1  reboot pending  exit 35  1.2s`, from an entry of a `hosts` output.
fn host_line(h: &serde_json::Value) -> String {
    let status = h["status"].as_str().unwrap_or("?").replace('_', " ");
    let exit = h["exit_code"].as_i64().map(|c| format!("exit {c}"));
    let exit = exit.or_else(|| h["release"].as_str().map(|r| format!("release {r}"))).unwrap_or_default();
    let took = h["duration_ms"].as_u64().map(fmt_ms).unwrap_or_default();
    format!("  {:<16} {status:<15} {exit:<9} {took}", h["name"].as_str().unwrap_or("?")).trim_end().to_owned()
}

fn live_view(mp: &MultiProgress, bars: &mut BTreeMap<String, ProgressBar>, e: &Event) {
    match e {
        Event::StageStarted { stage, .. } => {
            let bar = mp.add(ProgressBar::new_spinner());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {prefix:.bold} {wide_msg} {elapsed:>4}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_prefix(stage.clone());
            bar.enable_steady_tick(Duration::from_millis(120));
            bars.insert(stage.clone(), bar);
        }
        Event::Log { stage, line, .. } => {
            if let Some(bar) = bars.get(stage) {
                bar.set_message(line.clone());
            }
            let _ = mp.println(format!("  {stage} | {line}"));
        }
        Event::StageFinished { stage, .. } => {
            if let Some(bar) = bars.remove(stage) {
                bar.finish_and_clear();
            }
            if let Some(l) = line(e) {
                let _ = mp.println(l);
            }
        }
        other => {
            if let Some(l) = line(other)
                && !matches!(other, Event::AttemptStarted { .. })
            {
                let _ = mp.println(l);
            }
        }
    }
}

/// One line per event, for logs.
pub fn line(e: &Event) -> Option<String> {
    Some(match e {
        Event::RunStarted { run_id, pipeline, resumed, .. } => {
            format!("{} run {run_id} of {pipeline}", if *resumed { "resuming" } else { "starting" })
        }
        Event::StageStarted { stage, .. } => format!("▶ {stage}"),
        Event::AttemptStarted { stage, attempt, .. } if *attempt > 1 => format!("↻ {stage}: attempt {attempt}"),
        Event::AttemptStarted { .. } | Event::CommandStarted { .. } => return None,
        Event::AttemptFailed { stage, attempt, error, retry_in_ms: Some(ms), .. } => {
            format!("! {stage}: attempt {attempt} failed: {error} (retrying in {})", fmt_ms(*ms))
        }
        Event::AttemptFailed { stage, attempt, error, transient, .. } => {
            format!("! {stage}: attempt {attempt} failed{}: {error}", if *transient { "" } else { " (not retried: permanent)" })
        }
        Event::Log { stage, line, .. } => format!("  {stage} | {line}"),
        Event::StageFinished { stage, status, attempts, duration_ms, reason, .. } => {
            let mark = match status {
                StageStatus::Succeeded => "✓",
                StageStatus::Failed => "✗",
                StageStatus::Cancelled => "■",
                _ => "-",
            };
            let detail = match (status, reason) {
                (StageStatus::Succeeded, _) => {
                    format!(" in {} ({attempts} attempt{})", fmt_ms(*duration_ms), if *attempts == 1 { "" } else { "s" })
                }
                (_, Some(r)) => format!(": {r}"),
                _ => String::new(),
            };
            format!("{mark} {stage} {}{detail}", status.as_str())
        }
        Event::StageReused { stage, .. } => format!("= {stage} reused: succeeded earlier in this run, not run again"),
        Event::RunFinished { status, duration_ms, .. } => format!("run {} in {}", status.as_str(), fmt_ms(*duration_ms)),
    })
}

fn fmt_ms(ms: u64) -> String {
    match ms {
        0..1000 => format!("{ms}ms"),
        1000..60_000 => format!("{:.1}s", ms as f64 / 1000.0),
        _ => humantime::format_duration(Duration::from_secs(ms / 1000)).to_string(),
    }
}

impl Summary {
    /// On stdout, where the progress goes, so `slipway run … | tee log` keeps
    /// it; a closed stdout loses the table, never the run.
    pub fn print(&self, status: RunStatus, run_id: &str, resume: &str) {
        let width = self.order.iter().map(String::len).max().unwrap_or(5).max(5);
        let mut text = format!("\n{:<width$}  {:<10} {:>8} {:>9}\n", "stage", "status", "attempts", "duration");
        for id in &self.order {
            if self.reused.contains(id) && !self.rows.contains_key(id) {
                text.push_str(&format!(
                    "{id:<width$}  {:<10} {:>8} {:>9}  succeeded earlier in run {run_id}: not run again\n",
                    "reused", "-", "-"
                ));
            }
            if let Some((st, attempts, ms, reason)) = self.rows.get(id) {
                let note = match (st, reason) {
                    (StageStatus::Succeeded, _) | (_, None) => String::new(),
                    (_, Some(r)) => format!("  {r}"),
                };
                text.push_str(&format!("{id:<width$}  {:<10} {attempts:>8} {:>9}{note}\n", st.as_str(), fmt_ms(*ms)));
                for line in self.hosts.get(id).into_iter().flatten() {
                    text.push_str(&format!("{line}\n"));
                }
            }
        }
        text.push_str(&format!("\nrun {run_id}: {}\n", status.as_str()));
        if matches!(status, RunStatus::Failed | RunStatus::Interrupted) {
            text.push_str(&format!("continue it with: {resume}\n"));
        }
        let _ = std::io::stdout().write_all(text.as_bytes());
    }
}
