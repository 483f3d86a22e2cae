//! The watch check the simulator and the real-process test share: every
//! watcher's events, across its reconnections, are a prefix of the
//! cluster's history.

/// One event as a watcher saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeenEvent {
    pub revision: i64,
    pub key: String,
    pub put: bool,
    pub value: String,
}

/// What one watcher saw.
#[derive(Debug, Default)]
pub struct WatchLog {
    pub watcher: u32,
    pub events: Vec<SeenEvent>,
    pub connections: u32,
    /// Problems seen on the wire (an event out of order, a cancel).
    pub problems: Vec<String>,
}

/// Each watcher's events must be a prefix of the reference history (the
/// part of it that the watcher had time to see).
pub fn check_watchers(logs: &[WatchLog], reference: &[SeenEvent]) -> Result<(), String> {
    for log in logs {
        if let Some(problem) = log.problems.first() {
            return Err(format!("watcher {}: {problem}", log.watcher));
        }
        for (i, event) in log.events.iter().enumerate() {
            match reference.get(i) {
                Some(expected) if expected == event => {}
                Some(expected) => {
                    return Err(format!(
                        "watcher {} (over {} connections): event {i} is {event:?}, the cluster's history has {expected:?}",
                        log.watcher, log.connections
                    ))
                }
                None => {
                    return Err(format!(
                        "watcher {}: event {i} {event:?} is beyond the cluster's history ({} events)",
                        log.watcher,
                        reference.len()
                    ))
                }
            }
        }
    }
    Ok(())
}
