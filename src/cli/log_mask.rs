//! Log lines pass through the run's masker. With `-v`/`-vv` the libraries
//! Slipway uses log what they are given (reqwest and hyper trace the host they
//! connect to), so a secret in a URL would reach stderr: every log line, in
//! either format, is masked like any other output, with what the masker
//! learns during the run.

use std::io::Write;
use std::sync::OnceLock;

use slipway_engine::secrets::Masker;

static MASKER: OnceLock<Masker> = OnceLock::new();

/// Masks every log line from now on with `masker` (a run has one).
pub fn mask_with(masker: &Masker) {
    let _ = MASKER.set(masker.clone());
}

/// A panic's message can hold any value a run had at hand: once a run has
/// secrets, it is masked too (without them, Rust's own report is kept).
pub fn mask_panics() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| match MASKER.get() {
        Some(m) if !m.is_empty() => {
            let thread = std::thread::current();
            let text = format!("\nthread '{}' {info}\n", thread.name().unwrap_or("<unnamed>"));
            let _ = std::io::stderr().lock().write_all(m.mask(&text).as_bytes());
        }
        _ => report(info),
    }));
}

/// Writes each log event to stderr once it is whole, masked.
pub struct MaskedStderr;

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for MaskedStderr {
    type Writer = Event;

    fn make_writer(&'a self) -> Event {
        Event(Vec::new())
    }
}

/// One log event's text: the formatter writes it in pieces, the masker sees it whole.
pub struct Event(Vec<u8>);

impl Write for Event {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Event {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.0);
        let masked = match MASKER.get() {
            Some(m) if !m.is_empty() => m.mask(&text),
            _ => text.into_owned(),
        };
        let _ = std::io::stderr().lock().write_all(masked.as_bytes());
    }
}
