//! Progress bars for long commands (`snapshot save/restore`; later
//! `defrag --cluster`, `make-mirror`, `check perf`), drawn with `indicatif`
//! on stderr, and only when stderr is a terminal: piped or redirected, a
//! [`Progress`] draws nothing, so what scripts read is etcdctl's output
//! byte for byte. etcdctl itself shows no progress.
//!
//! ```text
//!   Progress::bytes(Some(total)) / bytes(None)   bytes done, rate (and ETA)
//!   Progress::steps(n)                           step i of n, and its name
//!   Progress::counter()                          a count with no end, and its rate
//!   .advance(k) .step("name") .finish()          no-ops when hidden
//! ```

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A progress bar on stderr, or nothing (not a terminal).
#[derive(Debug)]
pub struct Progress {
    bar: Option<ProgressBar>,
}

/// Whether progress is drawn: stderr is a terminal.
pub fn enabled() -> bool {
    std::io::stderr().is_terminal()
}

impl Progress {
    /// A progress that draws nothing.
    pub fn hidden() -> Progress {
        Progress { bar: None }
    }

    fn shown(length: Option<u64>, template: &str) -> Progress {
        if !enabled() {
            return Progress::hidden();
        }
        let bar = ProgressBar::with_draw_target(length, ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style);
        }
        bar.enable_steady_tick(Duration::from_millis(200));
        // The first frame now, even for a command over before the next tick.
        bar.tick();
        Progress { bar: Some(bar) }
    }

    /// Bytes transferred out of `total` (if known), with the rate.
    pub fn bytes(total: Option<u64>, message: &str) -> Progress {
        let template = if total.is_some() {
            "{msg} [{bar:30}] {bytes}/{total_bytes} ({binary_bytes_per_sec}, {eta})"
        } else {
            "{msg} {spinner} {bytes} ({binary_bytes_per_sec})"
        };
        let progress = Progress::shown(total, template);
        progress.message(message);
        progress
    }

    /// `n` steps, each named by [`Progress::step`] as it starts.
    pub fn steps(n: u64, message: &str) -> Progress {
        let progress = Progress::shown(Some(n), "{msg} [{bar:30}] {pos}/{len} {prefix}");
        progress.message(message);
        progress
    }

    /// A count of things done (keys mirrored) with no known end, and its
    /// rate.
    pub fn counter(message: &str) -> Progress {
        let progress = Progress::shown(None, "{msg} {spinner} {pos} ({per_sec})");
        progress.message(message);
        progress
    }

    /// Sets the count (or bytes) done so far.
    pub fn set(&self, n: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(n);
        }
    }

    /// Prints a line on stdout (a command's own output) without tearing
    /// the bar.
    pub fn print(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| println!("{line}")),
            None => println!("{line}"),
        }
    }

    /// Sets the text before the bar.
    pub fn message(&self, message: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(message.to_string());
        }
    }

    /// `n` more bytes (or steps) done.
    pub fn advance(&self, n: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(n);
        }
    }

    /// Starts the step `name`: the one before it is done.
    pub fn step(&self, name: &str) {
        if let Some(bar) = &self.bar {
            if !bar.prefix().is_empty() {
                bar.inc(1);
            }
            bar.set_prefix(name.to_string());
        }
    }

    /// Ends the bar, leaving its last frame (every step done) on its own
    /// line of the terminal (indicatif leaves the cursor after it).
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            if let Some(length) = bar.length() {
                bar.set_position(length);
            }
            bar.finish();
            eprintln!();
        }
    }

    /// Prints a line on stderr (a log line) without tearing the bar.
    pub fn log(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }

    /// Whether anything is drawn.
    pub fn is_shown(&self) -> bool {
        self.bar.is_some()
    }
}

impl Drop for Progress {
    /// A bar left unfinished (the command failed) is cleared, so the error
    /// line stands alone.
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            if !bar.is_finished() {
                bar.finish_and_clear();
            }
        }
    }
}
