//! The two pictures of a report, drawn here as inline SVG so the page needs
//! nothing from anywhere: the run's DAG (stages in columns by depth, coloured
//! by how they ended) and a Gantt timeline (one bar per attempt, retries and the
//! waits between them visible, one row per host under fleet stages).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use super::model::{Outcome, Run, Stage};
use super::page::{duration, esc};

const NODE_W: u32 = 170;
const NODE_H: u32 = 34;
const COL_GAP: u32 = 60;
const ROW_GAP: u32 = 14;

/// Each stage's column: 0 without dependencies, else one past its deepest one.
fn depths(stages: &[Stage], needs: &BTreeMap<String, Vec<String>>) -> BTreeMap<String, u32> {
    fn depth(id: &str, needs: &BTreeMap<String, Vec<String>>, memo: &mut BTreeMap<String, u32>, seen: &mut BTreeSet<String>) -> u32 {
        if let Some(d) = memo.get(id) {
            return *d;
        }
        // A cycle cannot be in a run's journal (validation refuses it), but a hand-edited run.json can hold one.
        if !seen.insert(id.to_owned()) {
            return 0;
        }
        let d = needs.get(id).into_iter().flatten().map(|dep| depth(dep, needs, memo, seen) + 1).max().unwrap_or(0);
        memo.insert(id.to_owned(), d);
        d
    }
    let mut memo = BTreeMap::new();
    for s in stages {
        depth(&s.id, needs, &mut memo, &mut BTreeSet::new());
    }
    memo
}

pub fn dag(run: &Run) -> String {
    let empty = BTreeMap::new();
    let needs = run.meta.as_ref().map(|m| &m.needs).unwrap_or(&empty);
    let depth = depths(&run.stages, needs);
    let mut rows_in_col: BTreeMap<u32, u32> = BTreeMap::new();
    let mut at: BTreeMap<&str, (u32, u32)> = BTreeMap::new();
    for s in &run.stages {
        let col = depth.get(&s.id).copied().unwrap_or(0);
        let row = rows_in_col.entry(col).or_default();
        at.insert(&s.id, (col * (NODE_W + COL_GAP) + 10, *row * (NODE_H + ROW_GAP) + 10));
        *row += 1;
    }
    let cols = rows_in_col.keys().max().map_or(1, |c| c + 1);
    let rows = rows_in_col.values().max().copied().unwrap_or(1);
    let (w, h) = (cols * (NODE_W + COL_GAP) - COL_GAP + 20, rows * (NODE_H + ROW_GAP) - ROW_GAP + 20);
    let mut out = String::new();
    let _ = write!(out, r#"<svg class="dag" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="stage graph">"#);
    out.push_str(r#"<defs><marker id="arrow" viewBox="0 0 8 8" refX="8" refY="4" markerWidth="8" markerHeight="8" orient="auto"><path d="M0 0 L8 4 L0 8 z"/></marker></defs>"#);
    for s in &run.stages {
        let Some(&(x2, y2)) = at.get(s.id.as_str()) else { continue };
        for dep in needs.get(&s.id).into_iter().flatten() {
            let Some(&(x1, y1)) = at.get(dep.as_str()) else { continue };
            let (sx, sy, ex, ey) = (x1 + NODE_W, y1 + NODE_H / 2, x2, y2 + NODE_H / 2);
            let mid = (sx + ex) / 2;
            let _ = write!(
                out,
                r##"<path class="edge" data-from="{}" data-to="{}" marker-end="url(#arrow)" d="M{sx} {sy} C{mid} {sy} {mid} {ey} {ex} {ey}"/>"##,
                esc(dep),
                esc(&s.id)
            );
        }
    }
    for s in &run.stages {
        let Some(&(x, y)) = at.get(s.id.as_str()) else { continue };
        let status = s.status.as_str();
        let _ = write!(
            out,
            r##"<a href="#stage-{id}" class="node st-{status}" data-stage="{id}"><title>{id}: {status}</title><rect x="{x}" y="{y}" width="{NODE_W}" height="{NODE_H}" rx="6"/><text x="{tx}" y="{ty}">{label}</text></a>"##,
            id = esc(&s.id),
            tx = x + 10,
            ty = y + NODE_H / 2 + 5,
            label = esc(&clip(&s.id, 20)),
        );
    }
    out.push_str("</svg>");
    out
}

const LABEL_W: u32 = 230;
const PLOT_W: u32 = 900;
const STAGE_ROW: u32 = 26;
const HOST_ROW: u32 = 18;
const AXIS_H: u32 = 24;

pub fn gantt(run: &Run) -> String {
    let t0 = run.start;
    let span = run.end.saturating_sub(t0).max(1) as f64;
    let x = |t: u64| LABEL_W as f64 + (t.saturating_sub(t0) as f64 / span) * PLOT_W as f64;
    let height = AXIS_H + run.stages.iter().map(|s| STAGE_ROW + HOST_ROW * s.hosts.len() as u32).sum::<u32>() + 6;
    let width = LABEL_W + PLOT_W + 20;
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg class="gantt" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" aria-label="timeline">"#
    );
    for i in 0..=4u64 {
        let t = t0 + (span as u64) * i / 4;
        let tx = x(t);
        let _ = write!(
            out,
            r#"<line class="tick" x1="{tx:.1}" y1="{AXIS_H}" x2="{tx:.1}" y2="{height}"/><text class="axis" x="{tx:.1}" y="16">+{}</text>"#,
            duration(t - t0)
        );
    }
    let mut y = AXIS_H;
    for s in &run.stages {
        let id = esc(&s.id);
        let _ = write!(
            out,
            r##"<g class="row" data-stage="{id}"><a href="#stage-{id}"><text class="label" x="4" y="{ty}">{label}</text></a>"##,
            ty = y + 17,
            label = esc(&clip(&s.id, 28))
        );
        let mut previous_end: Option<u64> = None;
        for a in &s.attempts {
            let end = a.end.unwrap_or(run.end);
            if let Some(prev) = previous_end.filter(|p| *p < a.start) {
                // The wait before a retry.
                let _ = write!(out, r#"<line class="wait" x1="{:.1}" y1="{cy}" x2="{:.1}" y2="{cy}"/>"#, x(prev), x(a.start), cy = y + 13);
            }
            previous_end = Some(end);
            let (bx, bw) = (x(a.start), (x(end) - x(a.start)).max(3.0));
            let outcome = a.outcome.as_str();
            let mut tip = format!("{} attempt {}: {outcome} after {}", s.id, a.number, duration(end.saturating_sub(a.start)));
            if let Some(e) = &a.error {
                let _ = write!(tip, ": {}", clip(e, 300));
            }
            let _ = write!(
                out,
                r#"<rect class="bar o-{outcome}" data-stage="{id}" data-attempt="{n}" x="{bx:.1}" y="{by}" width="{bw:.1}" height="18" rx="3"><title>{tip}</title></rect>"#,
                n = a.number,
                by = y + 4,
                tip = esc(&tip)
            );
            if bw > 24.0 {
                let _ = write!(out, r#"<text class="num" x="{:.1}" y="{}">#{}</text>"#, bx + 4.0, y + 17, a.number);
            }
        }
        if s.attempts.is_empty() {
            let why = if s.reused { "reused from an earlier attempt of the run" } else { s.status.as_str() };
            let mx = s.settled_at.map_or(LABEL_W as f64, x);
            let _ = write!(
                out,
                r#"<circle class="mark st-{}" cx="{mx:.1}" cy="{}" r="5"><title>{id}: {}</title></circle>"#,
                s.status.as_str(),
                y + 13,
                esc(why)
            );
        }
        y += STAGE_ROW;
        let stage_end = s.attempts.last().and_then(|a| a.end).or(s.settled_at).unwrap_or(run.end);
        for (i, h) in s.hosts.iter().enumerate() {
            let hy = y + HOST_ROW * i as u32;
            let name = esc(&h.name);
            let _ = write!(
                out,
                r#"<g class="host" data-host="{name}"><text class="hostlabel" x="18" y="{}">{}</text>"#,
                hy + 13,
                esc(&clip(&h.name, 26))
            );
            let start = h.duration_ms.map_or(stage_end, |d| stage_end.saturating_sub(d));
            let (hx, hw) = (x(start), (x(stage_end) - x(start)).max(3.0));
            let tip = format!("{}: {}{}", h.name, h.status, h.detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default());
            let _ = write!(
                out,
                r#"<rect class="hbar h-{}" x="{hx:.1}" y="{}" width="{hw:.1}" height="12" rx="2"><title>{}</title></rect></g>"#,
                status_class(&h.status),
                hy + 3,
                esc(&tip)
            );
        }
        y += HOST_ROW * s.hosts.len() as u32;
        out.push_str("</g>");
    }
    out.push_str("</svg>");
    out
}

/// A CSS class for a host's status: one of a fixed few, whatever the journal says.
pub fn status_class(status: &str) -> &'static str {
    match status {
        "succeeded" | "ok" | "changed" | "ran" | "deployed" | "converged" => "ok",
        "failed" | "unreachable" | "timed_out" | "error" => "bad",
        "rolled_back" | "reboot_pending" | "skipped" | "cancelled" | "drained" => "mid",
        _ => "other",
    }
}

/// `text` cut to `max` characters, with an ellipsis when cut.
pub fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut s: String = text.chars().take(max.saturating_sub(1)).collect();
    s.push('…');
    s
}

/// Outcomes drawn: used by the legend.
pub const OUTCOMES: &[Outcome] = &[Outcome::Succeeded, Outcome::Retried, Outcome::Failed, Outcome::Cancelled, Outcome::Unfinished];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::html_report::model::Run;
    use slipway_engine::event::Event;

    #[test]
    fn stages_sit_one_column_right_of_their_deepest_dependency() {
        let needs = BTreeMap::from([("b".to_owned(), vec!["a".to_owned()]), ("c".to_owned(), vec!["a".to_owned(), "b".to_owned()])]);
        let events: Vec<Event> = ["a", "b", "c"].iter().map(|id| Event::StageStarted { stage: (*id).into(), at: 1 }).collect();
        let run = Run::from_events(None, &events, 0);
        let d = depths(&run.stages, &needs);
        assert_eq!((d["a"], d["b"], d["c"]), (0, 1, 2));
    }

    #[test]
    fn a_cycle_in_a_hand_edited_journal_does_not_hang() {
        let needs = BTreeMap::from([("a".to_owned(), vec!["b".to_owned()]), ("b".to_owned(), vec!["a".to_owned()])]);
        let events: Vec<Event> = ["a", "b"].iter().map(|id| Event::StageStarted { stage: (*id).into(), at: 1 }).collect();
        let run = Run::from_events(None, &events, 0);
        assert_eq!(depths(&run.stages, &needs).len(), 2);
    }

    #[test]
    fn long_names_are_clipped() {
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(clip("abc", 4), "abc");
    }
}
