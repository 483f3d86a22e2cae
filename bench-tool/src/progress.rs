//! A one-line progress bar, redrawn on the terminal a few times a second.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::driver::Plan;

const REDRAW_INTERVAL: Duration = Duration::from_millis(200);
const BAR_WIDTH_CHARS: usize = 40;

#[derive(Debug)]
pub struct Progress {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Progress {
    pub fn start(plan: Arc<Plan>) -> Self {
        let (stop, mut stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            let mut interval = tokio::time::interval(REDRAW_INTERVAL);
            loop {
                tokio::select! {
                    _ = interval.tick() => draw(&plan),
                    _ = &mut stopped => break,
                }
            }
            draw(&plan);
            println!();
        });
        Self { stop, task }
    }

    pub async fn finish(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

fn draw(plan: &Plan) {
    let completed = plan.completed();
    let elapsed = plan.started().elapsed();
    let by_count = plan
        .total()
        .map(|total| completed as f64 / total.max(1) as f64);
    let by_time = plan
        .duration()
        .map(|duration| elapsed.as_secs_f64() / duration.as_secs_f64().max(1e-9));
    let fraction = match (by_count, by_time) {
        (Some(a), Some(b)) => a.max(b),
        (Some(a), None) | (None, Some(a)) => a,
        (None, None) => 0.0,
    }
    .clamp(0.0, 1.0);
    let filled = (fraction * BAR_WIDTH_CHARS as f64) as usize;
    let rate = completed as f64 / elapsed.as_secs_f64().max(1e-9);
    let mut stdout = std::io::stdout().lock();
    let _ = write!(
        stdout,
        "\r{completed:>10} [{}{}] {:>3.0}% {rate:>9.0}/s {:>6.1}s",
        "#".repeat(filled),
        "-".repeat(BAR_WIDTH_CHARS - filled),
        fraction * 100.0,
        elapsed.as_secs_f64()
    );
    let _ = stdout.flush();
}
