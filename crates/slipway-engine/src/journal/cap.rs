//! The journal keeps at most [`STAGE_LOG_CAP`] bytes of one stage's output: a
//! command that prints without end (a debug flag left on, a loop) cannot fill
//! the disk through the journal. Past the cap, lines are counted, not kept; the
//! live output still shows them, and at the stage's end the journal says how
//! many it did not keep.

use std::collections::HashMap;

use crate::event::Event;

/// Bytes of output lines the journal keeps per stage (per run, all attempts together).
pub const STAGE_LOG_CAP: u64 = 8 * 1024 * 1024;

#[derive(Debug)]
pub struct LogCap {
    limit: u64,
    stages: HashMap<String, Usage>,
}

#[derive(Debug, Default)]
struct Usage {
    kept: u64,
    /// Once a line did not fit, nothing more of the stage is kept: the journal
    /// holds the output up to a point, without holes.
    full: bool,
    dropped_lines: u64,
    dropped_bytes: u64,
}

impl Default for LogCap {
    fn default() -> Self {
        LogCap::new(STAGE_LOG_CAP)
    }
}

impl LogCap {
    pub fn new(limit: u64) -> Self {
        LogCap { limit, stages: HashMap::new() }
    }

    /// Whether the journal keeps this line of `stage`'s output.
    pub fn keep(&mut self, stage: &str, line: &str) -> bool {
        let usage = match self.stages.get_mut(stage) {
            Some(u) => u,
            None => self.stages.entry(stage.to_owned()).or_default(),
        };
        let len = line.len() as u64;
        if !usage.full && usage.kept + len <= self.limit {
            usage.kept += len;
            return true;
        }
        usage.full = true;
        usage.dropped_lines += 1;
        usage.dropped_bytes += len;
        false
    }

    /// At the stage's end: a line saying what was not kept, if anything; the
    /// count starts again for a later run of the stage.
    pub fn finish(&mut self, stage: &str, at: u64) -> Option<Event> {
        let usage = self.stages.remove(stage).filter(|u| u.dropped_lines > 0)?;
        let line = format!(
            "slipway: {} lines ({} bytes) not kept: the journal keeps {} MiB of a stage's output (the live output showed them)",
            usage.dropped_lines,
            usage.dropped_bytes,
            self.limit >> 20
        );
        Some(Event::Log { stage: stage.to_owned(), stream: "stderr".into(), line, at })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_past_the_cap_are_counted_not_kept_and_each_stage_has_its_own() {
        let mut cap = LogCap::new(10);
        assert!(cap.keep("a", "12345"));
        assert!(cap.keep("a", "12345"));
        assert!(!cap.keep("a", "1"));
        assert!(!cap.keep("a", ""), "nothing after the first line left out: no holes");
        assert!(cap.keep("b", "1234567890"));
        let Some(Event::Log { stage, line, .. }) = cap.finish("a", 1) else { panic!("a note") };
        assert_eq!(stage, "a");
        assert!(line.starts_with("slipway: 2 lines (1 bytes) not kept"), "{line}");
        assert_eq!(cap.finish("b", 1), None);
        assert!(cap.keep("a", "12345"), "a stage that runs again starts from nothing");
    }
}
