//! The `cairn` binary.
//!
//! Status: the server is not built yet (issue 4). Until it is, the binary answers
//! `--version` and otherwise refuses to start with a message that says so, rather
//! than pretending to serve.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--version") {
        println!("cairn Version: {}", env!("CARGO_PKG_VERSION"));
        println!("etcd API Version: 3.4");
        return ExitCode::SUCCESS;
    }
    eprintln!(
        "cairn {}: the server is not implemented yet; only the consensus and storage core exist so far",
        env!("CARGO_PKG_VERSION")
    );
    ExitCode::from(2)
}
