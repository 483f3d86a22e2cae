//! cairnctl against etcdctl 3.4.23 for the cluster operations: `member
//! add/remove/update/promote`, `endpoint health/status/hashkv` (with
//! `--cluster`), `alarm list/disarm`, `defrag`, `move-leader`; each side a
//! three-member cluster (etcdctl→etcd, cairnctl→etcd, cairnctl→cairn),
//! through common/cluster.rs.
//!
//! ```text
//!   "~line": compared as sets of lines (member-ID or answer-time order)
//!   "@line": compared against etcd only (a documented server difference)
//! ```

#![allow(clippy::disallowed_methods)]

mod common;

const CASES: &[&str] = &[
    // Help, with --cluster inherited from `endpoint`.
    "endpoint",
    "endpoint health -h",
    "endpoint status --help",
    "endpoint hashkv -h",
    "defrag -h",
    "alarm",
    "move-leader -h",
    "member add -h",
    "member update -h",
    "member promote -h",
    // Arguments refused before dialling.
    "member add",
    "member add a b http://x:1",
    "member add a",
    "member remove",
    "member remove zz",
    "member remove 1ffffffffffffffff",
    "member update 1",
    "member update zz --peer-urls {NEWPEER}",
    "member promote",
    "member promote a b",
    "alarm list x",
    "alarm disarm x",
    "move-leader",
    "move-leader zz",
    "move-leader 1 2",
    "-w yaml endpoint health",
    // endpoint status / hashkv / health in every format.
    "~endpoint status",
    "~endpoint status -w table",
    "~endpoint status -w json",
    "~endpoint status -w fields",
    "endpoint status -w protobuf",
    "~endpoint status --cluster",
    "~endpoint --cluster status -w json",
    "--endpoints {EP1} endpoint status -w json",
    "put k v1",
    "put k v2",
    "endpoint hashkv",
    "~endpoint hashkv -w json",
    "endpoint hashkv -w table",
    "endpoint hashkv -w fields",
    "endpoint hashkv -w protobuf",
    "~endpoint hashkv --cluster",
    "endpoint hashkv --rev 2",
    "compaction 3",
    "--endpoints {EP1} endpoint hashkv --rev 2",
    "~endpoint health",
    "~endpoint health -w json",
    "~endpoint health -w table",
    "~endpoint health -w fields",
    "endpoint health -w protobuf",
    "~endpoint health --cluster",
    // An endpoint nobody listens on.
    "~--endpoints {EP1},{DEAD} --command-timeout 1s endpoint health",
    "--endpoints {DEAD} --command-timeout 1s endpoint status",
    "--endpoints {EP1},{DEAD} --command-timeout 1s endpoint hashkv",
    "--endpoints {DEAD} --command-timeout 1s endpoint health --cluster",
    "--endpoints {DEAD} --command-timeout 1s defrag",
    // Alarms: none raised. etcd 3.4 answers without a header (fields:
    // etcdctl crashes); cairn fills it in.
    "alarm list",
    "@alarm list -w json",
    "@alarm list -w fields",
    "@alarm list -w protobuf",
    "alarm list -w table",
    "alarm disarm",
    "alarm disarm -w json",
    "alarm disarm -w fields",
    "alarm disarm -w protobuf",
    "alarm disarm -w table",
    // A NOSPACE alarm, listed, shown by status, disarmed.
    "put big {BIG}",
    "~alarm list",
    "@~alarm list -w json",
    "alarm list -w table",
    "~endpoint status",
    "put k v3",
    "~alarm disarm",
    "alarm list",
    "put k v3",
    // defrag
    "defrag",
    "~defrag --cluster",
    "--endpoints {EP1} defrag -w json",
    // Members.
    "member add l1 --learner --peer-urls {NEWPEER}",
    "~member list",
    "member promote {NEW}",
    "member promote {NEW} -w json",
    "member update {NEW} --peer-urls {NEWPEER2}",
    "member update {NEW} --peer-urls {NEWPEER} -w fields",
    "member update {NEW} --peer-urls {PEER1}",
    "member update {NEW} --peer-urls bad",
    "member update {NEW} --peer-urls http://127.0.0.1",
    "member update {NEW} --peer-urls http://a:1/p",
    "member remove {NEW}",
    "member remove {NEW}",
    "member promote 1234",
    "member update 1234 --peer-urls {NEWPEER2}",
    "member add x --peer-urls {PEER1}",
    "member add x --peer-urls ftp://a:1",
    "~member add v1 --peer-urls {NEWPEER2} -w json",
    "~member remove {NEW} -w json",
    // A learner that runs, catches up and is promoted.
    "member add l1 --learner --peer-urls {LPEER}",
    "!start-learner",
    "member promote {NEW}",
    "~member list",
    "member promote {NEW}",
    "member remove {NEW}",
    "member add v2 --learner --peer-urls {NEWPEER3} -w table",
    "member remove {NEW} -w fields",
    "~member list -w table",
    // move-leader
    "--endpoints {FOLLOWER_EP} move-leader {LEADER}",
    "move-leader 1234",
    "move-leader {FOLLOWER}",
    "move-leader {LEADER} -w json",
    "move-leader {LEADER} -w protobuf",
    "move-leader {FOLLOWER} -w fields",
    "move-leader {LEADER} -w table",
    "--endpoints {DEAD} --command-timeout 1s move-leader 1",
];

#[test]
fn cairnctl_cluster_operations_print_what_etcdctl_prints() {
    common::cluster::compare_clusters(CASES);
}

/// `defrag --data-dir` on copies of a stopped etcd member's data: etcdctl's
/// and cairnctl's results hold the same data (`etcdctl snapshot status`,
/// which bbolt reads whole: hash, revision, keys), and both say the same
/// (nothing, exit 0); a
/// directory with no database: the same crash lines and exit code.
#[test]
fn defrag_data_dir_rewrites_an_etcd_database_as_etcdctl_does() {
    use std::process::Command;

    use common::{mask_lines, Server, CAIRNCTL, ETCD, ETCDCTL};

    if !common::available() {
        return;
    }
    let mut etcd = Server::start(std::path::Path::new(ETCD), "ops-defrag");
    etcd.wait_ready();
    let endpoint = format!("127.0.0.1:{}", etcd.port);
    let etcdctl = |args: &[&str]| {
        let output = Command::new(ETCDCTL)
            .args(["--endpoints", &endpoint])
            .args(args)
            .env_remove("ETCDCTL_API")
            .output()
            .expect("etcdctl");
        assert!(output.status.success(), "etcdctl {args:?}: {output:?}");
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let value = "v".repeat(2000);
    for i in 0..200 {
        etcdctl(&["put", &format!("key{i}"), &value]);
    }
    etcdctl(&["del", "key1", "--prefix"]);
    etcdctl(&["compaction", "150"]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    etcd.stop();
    let copies = std::env::temp_dir().join(format!("cairnctl-defrag-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&copies);
    let run = |binary: &str, dir: &std::path::Path| {
        let output = Command::new(binary)
            .args(["defrag", "--data-dir"])
            .arg(dir)
            .env_remove("ETCDCTL_API")
            .output()
            .expect("defrag");
        let stderr = String::from_utf8_lossy(&output.stderr);
        // etcdctl's crash goes on with a goroutine trace; compare the
        // critical log line and the panic line.
        let head: Vec<&str> = stderr.lines().take(2).collect();
        (
            String::from_utf8_lossy(&output.stdout).into_owned(),
            mask_lines(&head.join("\n")).replace(&copies.display().to_string(), "DIR"),
            output.status.code(),
        )
    };
    let mut sizes = Vec::new();
    let mut statuses = Vec::new();
    let mut outcomes = Vec::new();
    for (name, binary) in [("etcdctl", ETCDCTL), ("cairnctl", CAIRNCTL)] {
        let dir = copies.join(name);
        std::fs::create_dir_all(dir.join("member/snap")).expect("copy dir");
        let db = dir.join("member/snap/db");
        std::fs::copy(etcd.data_dir().join("member/snap/db"), &db).expect("copy db");
        let before = std::fs::metadata(&db).expect("db").len();
        outcomes.push(run(binary, &dir));
        sizes.push((before, std::fs::metadata(&db).expect("db").len()));
        // hash, revision, total keys (not the file's size: pages are
        // filled alike, but the two writers end their files differently).
        let status = etcdctl(&["snapshot", "status", &db.display().to_string()]);
        statuses.push(status.rsplitn(2, ", ").last().unwrap_or("").to_string());
        outcomes.push(run(binary, &copies.join("nothing-here")));
    }
    let _ = std::fs::remove_dir_all(&copies);
    assert_eq!(outcomes[0], outcomes[2], "defrag --data-dir of the copy");
    assert_eq!(outcomes[0], (String::new(), String::new(), Some(0)));
    assert_eq!(outcomes[1], outcomes[3], "defrag --data-dir of no database");
    assert_eq!(outcomes[1].2, Some(2));
    assert_eq!(statuses[0], statuses[1], "the data after defragmenting");
    assert!(
        sizes[1].1 < sizes[1].0,
        "cairnctl's file is smaller than the original: {sizes:?}"
    );
}
