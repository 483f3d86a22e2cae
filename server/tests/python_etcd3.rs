//! Debian's Python etcd client (`python3-etcd3`) against a real `cairn`:
//! the script `tests/python/etcd3_client.py` uses KV, transactions, a watch
//! and a lease the way a Python service would. Skipped when the module is
//! missing, unless `CAIRN_REQUIRE_ETCD=1` (as in CI), where it fails.

#![allow(clippy::disallowed_methods)]

mod support;

use std::path::Path;
use std::process::Command;

use support::Cluster;

/// Debian's interpreter, where python3-etcd3 installs (a `python3` earlier on
/// PATH may be another one).
const PYTHON: &str = "/usr/bin/python3";

fn etcd3_available() -> bool {
    let present = Path::new(PYTHON).exists()
        && Command::new(PYTHON)
            .args(["-c", "import etcd3"])
            .output()
            .is_ok_and(|o| o.status.success());
    let required = std::env::var("CAIRN_REQUIRE_ETCD").is_ok_and(|v| v != "0" && !v.is_empty());
    if !present {
        assert!(
            !required,
            "CAIRN_REQUIRE_ETCD is set but {PYTHON} cannot import etcd3: apt-get install python3-etcd3"
        );
        eprintln!("SKIPPED: python3-etcd3 is not installed");
    }
    present
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_etcd3_client_works_unchanged() {
    if !etcd3_available() {
        return;
    }
    let cluster = Cluster::start("python", 1).await;
    let port = cluster.members[0].client_port.to_string();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/etcd3_client.py");
    let output = tokio::task::spawn_blocking(move || {
        Command::new(PYTHON)
            .arg(script)
            .args(["127.0.0.1", &port])
            .output()
            .expect("run python3")
    })
    .await
    .expect("join");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.trim_end().ends_with("OK"),
        "python3-etcd3 script failed:\n{stdout}\n{stderr}\ncairn log:\n{}",
        cluster.members[0].log_text()
    );
}
