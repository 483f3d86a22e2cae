//! `cargo sim`: runs seeded whole-cluster simulations.
//!
//! ```text
//! cargo sim --seed 42 [--bug NAME] [--timeline run.html] [--verbose]
//! cargo sim --seeds 1..200 [--bug NAME] [--expect-failure]
//! cargo sim --seeds 1299,1351,2198
//! cargo sim --seed 42 --check-determinism
//! cargo sim --seeds 1..300 --static-membership
//! ```
//!
//! `--static-membership` leaves out the schedule's membership changes: the
//! cluster keeps its initial members, and the rest of the run is what the
//! seed drew before membership changes existed.
//!
//! A single run prints, as its last line,
//! `seed=<seed> ops=<n> faults=<n> trace=<hex>`; a sweep prints
//! `<n> passed, <m> failed` and lists the failing seeds. Every failure prints
//! the command that reproduces it and writes its history and trace under
//! `target/sim-failures/`.

#[cfg(not(madsim))]
fn main() {
    eprintln!(
        "cairn-sim runs only in the simulator's build: use `cargo sim --seed 42` (see README)"
    );
    std::process::exit(2);
}

#[cfg(madsim)]
fn main() {
    std::process::exit(cli::main(std::env::args().skip(1).collect()));
}

#[cfg(madsim)]
mod cli {
    use std::path::PathBuf;
    use std::time::Instant as WallInstant;

    use cairn_sim_tests::scenario::{Bug, Scenario};
    use cairn_sim_tests::sim::{self, RunOutcome};

    #[derive(Debug, Default)]
    struct Options {
        seeds: Vec<u64>,
        sweep: bool,
        bug: Option<Bug>,
        timeline: Option<PathBuf>,
        verbose: bool,
        check_determinism: bool,
        expect_failure: bool,
        static_membership: bool,
        out: PathBuf,
    }

    const USAGE: &str = "usage: cargo sim (--seed N | --seeds A..B | --seeds N,M,...) [--bug ack-before-fsync|local-reads|skip-vote-persistence|lease-no-extend|v2-local-reads] [--timeline FILE.html] [--check-determinism] [--expect-failure] [--static-membership] [--out DIR] [--verbose]";

    fn parse(args: Vec<String>) -> Result<Options, String> {
        let mut options = Options {
            out: PathBuf::from("target/sim-failures"),
            ..Options::default()
        };
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
            match arg.as_str() {
                "--seed" => {
                    let seed = value("--seed")?;
                    options.seeds = vec![seed.parse().map_err(|_| format!("bad seed {seed}"))?];
                }
                "--seeds" => {
                    options.seeds = parse_seeds(&value("--seeds")?)?;
                    options.sweep = true;
                }
                "--bug" => {
                    let name = value("--bug")?;
                    options.bug = Some(Bug::parse(&name).ok_or(format!("unknown bug {name}"))?);
                }
                "--timeline" => options.timeline = Some(PathBuf::from(value("--timeline")?)),
                "--out" => options.out = PathBuf::from(value("--out")?),
                "--verbose" => options.verbose = true,
                "--check-determinism" => options.check_determinism = true,
                "--expect-failure" => options.expect_failure = true,
                "--static-membership" => options.static_membership = true,
                "-h" | "--help" => return Err(USAGE.to_string()),
                other => return Err(format!("unknown argument {other}\n{USAGE}")),
            }
        }
        if options.seeds.is_empty() {
            return Err(USAGE.to_string());
        }
        Ok(options)
    }

    /// `A..B` (B excluded) or a comma-separated list of seeds.
    fn parse_seeds(text: &str) -> Result<Vec<u64>, String> {
        let seed = |s: &str| s.trim().parse::<u64>().map_err(|_| format!("bad seed {s}"));
        match text.split_once("..") {
            Some((a, b)) => Ok((seed(a)?..seed(b)?).collect()),
            None => text.split(',').map(seed).collect(),
        }
    }

    fn reproduce(options: &Options, seed: u64) -> String {
        let mut command = format!("cargo sim --seed {seed}");
        if let Some(bug) = options.bug {
            command.push_str(&format!(" --bug {}", bug.name()));
        }
        if options.static_membership {
            command.push_str(" --static-membership");
        }
        command
    }

    fn report_failure(options: &Options, seed: u64, outcome: &RunOutcome) {
        println!("seed {seed} FAILED:");
        for failure in &outcome.failures {
            println!("  {failure}");
        }
        let _ = std::fs::create_dir_all(&options.out);
        let history = options.out.join(format!("seed-{seed}.history"));
        let trace = options.out.join(format!("seed-{seed}.trace"));
        let v2 = options.out.join(format!("seed-{seed}.v2"));
        let _ = std::fs::write(&history, outcome.history.to_text());
        let _ = std::fs::write(&trace, outcome.trace.to_text());
        let _ = std::fs::write(&v2, outcome.v2.to_text());
        println!("  history: {}", history.display());
        println!("  trace:   {}", trace.display());
        println!("  v2:      {}", v2.display());
        println!("  REPRODUCE WITH: {}", reproduce(options, seed));
    }

    fn summary(seed: u64, outcome: &RunOutcome) -> String {
        format!(
            "seed={seed} ops={} faults={} trace={:016x}",
            outcome.history.ops.len(),
            outcome.fault_count(),
            outcome.fingerprint()
        )
    }

    pub fn main(args: Vec<String>) -> i32 {
        let options = match parse(args) {
            Ok(options) => options,
            Err(message) => {
                eprintln!("{message}");
                return 2;
            }
        };
        let started = WallInstant::now();
        let mut failed = Vec::new();
        let mut fault_kinds: std::collections::BTreeMap<&'static str, usize> = Default::default();
        let mut simulated_ms = 0u64;
        // Seeds that failed a check outright (not just an inconclusive one).
        let mut caught = 0usize;
        for &seed in &options.seeds {
            let mut scenario = Scenario::from_seed(seed, options.bug);
            if options.static_membership {
                scenario = scenario.static_membership();
            }
            for (_, fault) in &scenario.faults {
                *fault_kinds.entry(fault.kind()).or_default() += 1;
            }
            let outcome = sim::run(&scenario);
            simulated_ms += outcome.end_ms;
            if options.verbose {
                print!("{}", outcome.trace.to_text());
            }
            if options.check_determinism {
                let again = sim::run(&scenario);
                if again.fingerprint() != outcome.fingerprint() {
                    println!(
                        "seed {seed} is NOT deterministic: trace {:016x} then {:016x}",
                        outcome.fingerprint(),
                        again.fingerprint()
                    );
                    return 1;
                }
                println!(
                    "seed {seed}: two runs gave trace {:016x}",
                    outcome.fingerprint()
                );
            }
            if let Some(path) = &options.timeline {
                let html = sim::timeline(&scenario, &outcome);
                if let Err(error) = std::fs::write(path, html) {
                    eprintln!("cannot write {}: {error}", path.display());
                    return 2;
                }
                println!("timeline: {}", path.display());
            }
            if !outcome.failures.is_empty() {
                report_failure(&options, seed, &outcome);
                failed.push(seed);
                if outcome.violation_found() {
                    caught += 1;
                }
            } else if options.sweep {
                println!("{}", summary(seed, &outcome));
            }
            if !options.sweep {
                println!("{}", summary(seed, &outcome));
            }
        }
        if options.sweep {
            let wall = started.elapsed().as_secs_f64();
            println!(
                "swept {} seeds in {wall:.1}s wall ({:.1} seeds/min), {:.0}s simulated; faults injected: {}",
                options.seeds.len(),
                options.seeds.len() as f64 * 60.0 / wall.max(0.001),
                simulated_ms as f64 / 1000.0,
                fault_kinds
                    .iter()
                    .map(|(kind, n)| format!("{kind} {n}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            if !failed.is_empty() {
                println!(
                    "failing seeds: {}",
                    failed
                        .iter()
                        .map(u64::to_string)
                        .collect::<Vec<_>>()
                        .join(" ")
                );
            }
            println!(
                "{} passed, {} failed",
                options.seeds.len() - failed.len(),
                failed.len()
            );
        }
        if options.expect_failure {
            // A deliberate bug must be caught by a check, not merely leave
            // the checker undecided.
            println!("{caught} seeds caught a violation");
            return if caught > 0 { 0 } else { 1 };
        }
        if failed.is_empty() {
            0
        } else {
            1
        }
    }
}
