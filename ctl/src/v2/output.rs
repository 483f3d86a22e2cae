//! What the v2 commands share: the client as ctlv2/command/util.go builds
//! it (endpoints from flags and `ETCDCTL_*`, TLS files, user and password,
//! the sync with the members' URLs), its errors as `handleError` prints
//! them, and answers as `printResponseKey` prints them.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Arc;

use cairn_client::v2::{KeysResponse, V2Client, V2Error};
use cairn_client::{Dialer, TlsOptions};

use super::Ctx;

/// etcdctl v2's exit codes (ctlv2/command/error.go).
pub const EXIT_BAD_ARGS: i32 = 1;
pub const EXIT_BAD_CONNECTION: i32 = 2;
pub const EXIT_SERVER_ERROR: i32 = 4;
pub const EXIT_CLUSTER_NOT_HEALTHY: i32 = 5;

/// A command's end: its exit code and what it prints on stderr.
#[derive(Debug)]
pub struct Fail {
    pub code: i32,
    pub stderr: String,
}

impl Fail {
    /// `text` and a newline on stderr, exit `code` (`fmt.Fprintln(os.Stderr, ..)`).
    pub fn line(code: i32, text: impl std::fmt::Display) -> Fail {
        Fail {
            code,
            stderr: format!("{text}\n"),
        }
    }

    /// etcdctl's `handleError`: `Error:  <error>` and a cluster error's
    /// detail.
    pub fn handle(code: i32, error: impl std::fmt::Display) -> Fail {
        Fail {
            code,
            stderr: format!("Error:  {error}\n"),
        }
    }

    /// [`Fail::handle`] for a client error.
    pub fn client(code: i32, error: &V2Error) -> Fail {
        let mut fail = Fail::handle(code, error);
        if let Some(detail) = error.detail() {
            fail.stderr.push_str(&detail);
            fail.stderr.push('\n');
        }
        fail
    }
}

pub type Outcome = Result<(), Fail>;

/// The value of global flag `name`, else of environment variable `var`.
fn flag_or_env(ctx: &Ctx, name: &str, var: &str) -> String {
    let value = ctx.global.string(name);
    if value.is_empty() {
        ctx.env(var)
    } else {
        value
    }
}

/// `getEndpoints`: SRV discovery (`--discovery-srv`/`ETCDCTL_DISCOVERY_SRV`,
/// `ETCDCTL_DISCOVERY_SRV_NAME`; only https records unless
/// `--insecure-discovery`/`ETCDCTL_INSECURE_DISCOVERY`), else `--endpoints`,
/// `ETCDCTL_ENDPOINTS`, `--endpoint`, `ETCDCTL_ENDPOINT`, `--peers`,
/// `ETCDCTL_PEERS`, the default; each parsed as a URL (`http` when it has
/// no scheme).
async fn endpoints(ctx: &Ctx) -> Result<Vec<String>, Fail> {
    let domain = flag_or_env(ctx, "discovery-srv", "ETCDCTL_DISCOVERY_SRV");
    if !domain.is_empty() {
        let name = ctx.env("ETCDCTL_DISCOVERY_SRV_NAME");
        let insecure = ctx.global.bool("insecure-discovery")
            || !ctx.env("ETCDCTL_INSECURE_DISCOVERY").is_empty();
        let records = cairn_client::srv::client_records(&domain, Some(name.as_str()))
            .await
            .map_err(|e| Fail::line(1, e))?;
        let mut found = Vec::new();
        for (endpoint, _) in records {
            if !insecure && endpoint.starts_with("http://") {
                eprintln!("ignoring discovered insecure endpoint {endpoint:?}");
                continue;
            }
            found.push(endpoint);
        }
        if !found.is_empty() {
            return Ok(found);
        }
    }
    let sources = [
        ("endpoints", "ETCDCTL_ENDPOINTS"),
        ("endpoint", "ETCDCTL_ENDPOINT"),
        ("peers", "ETCDCTL_PEERS"),
    ];
    let list = sources
        .iter()
        .map(|(flag, var)| flag_or_env(ctx, flag, var))
        .find(|v| !v.is_empty())
        .unwrap_or_else(|| "http://127.0.0.1:2379,http://127.0.0.1:4001".to_string());
    list.split(',').map(parse_url).collect()
}

/// Go's `url.Parse` as far as endpoints go: `scheme://host:port`, or an
/// error for a first path segment with a colon (`127.0.0.1:2379`).
fn parse_url(text: &str) -> Result<String, Fail> {
    if text.contains("://") || text.is_empty() {
        return Ok(text.to_string());
    }
    let first_segment = text.split('/').next().unwrap_or_default();
    match first_segment.split_once(':') {
        Some((scheme, _)) if !scheme.is_empty() && is_scheme(scheme) => Ok(text.to_string()),
        Some(_) => Err(Fail::line(
            1,
            format!("parse {text:?}: first path segment in URL cannot contain colon"),
        )),
        None => Ok(format!("http://{text}")),
    }
}

fn is_scheme(text: &str) -> bool {
    text.starts_with(|c: char| c.is_ascii_alphabetic())
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
}

/// `getTransport`: the CA, certificate and key files, flags or
/// `ETCDCTL_CA_FILE`, `ETCDCTL_CERT_FILE`, `ETCDCTL_KEY_FILE`.
fn dialer(ctx: &Ctx, endpoints: &[String]) -> Result<Dialer, Fail> {
    let file = |flag: &str, var: &str| {
        let value = flag_or_env(ctx, flag, var);
        (!value.is_empty()).then(|| PathBuf::from(value))
    };
    let options = TlsOptions {
        ca_file: file("ca-file", "ETCDCTL_CA_FILE"),
        cert_file: file("cert-file", "ETCDCTL_CERT_FILE"),
        key_file: file("key-file", "ETCDCTL_KEY_FILE"),
        insecure_skip_verify: false,
    };
    check_tls_files(&options)?;
    let https = endpoints.iter().any(|e| e.starts_with("https://"));
    let tls = if options.is_empty() && !https {
        None
    } else {
        Some(Arc::new(
            options.client_config().map_err(|e| Fail::line(1, e))?,
        ))
    };
    let total = ctx.global.duration("total-timeout");
    let dial = if !total.is_zero() && total < std::time::Duration::from_secs(30) {
        total
    } else {
        std::time::Duration::from_secs(30)
    };
    Ok(Dialer::new(tls).with_dial_timeout(dial))
}

/// etcd's `TLSInfo` checks, in its order and words: a certificate needs
/// its key (and the other way round), then each file must open.
fn check_tls_files(options: &TlsOptions) -> Result<(), Fail> {
    let shown = |p: &Option<PathBuf>| {
        p.as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    };
    if options.cert_file.is_some() != options.key_file.is_some() {
        return Err(Fail::line(
            1,
            format!(
                "KeyFile and CertFile must both be present[key: {}, cert: {}]",
                shown(&options.key_file),
                shown(&options.cert_file)
            ),
        ));
    }
    for path in [&options.cert_file, &options.key_file, &options.ca_file]
        .into_iter()
        .flatten()
    {
        if let Err(error) = std::fs::File::open(path) {
            let why = match error.kind() {
                std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
                std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
                _ => error.to_string(),
            };
            return Err(Fail::line(1, format!("open {}: {why}", path.display())));
        }
    }
    Ok(())
}

/// `newClient`: endpoints, TLS, `--timeout`, `--username`/
/// `ETCDCTL_USERNAME` (the password asked for when not given).
async fn new_client(ctx: &Ctx) -> Result<V2Client, Fail> {
    let endpoints = endpoints(ctx).await?;
    let dialer = dialer(ctx, &endpoints)?;
    let mut client = V2Client::new(endpoints, dialer)
        .with_header_timeout(ctx.global.duration("timeout"))
        .with_debug(ctx.global.bool("debug"));
    let user = flag_or_env(ctx, "username", "ETCDCTL_USERNAME");
    if !user.is_empty() {
        let (name, password) = match user.split_once(':') {
            Some((name, password)) => (name.to_string(), password.to_string()),
            None => (
                user.clone(),
                ask_password("Password: ").map_err(|e| Fail::line(1, e))?,
            ),
        };
        client = client.with_credentials(name, password);
    }
    Ok(client)
}

/// `mustNewClient`: a client synchronised with the cluster's member list
/// unless `--no-sync` (a sync that cannot connect ends the command).
pub async fn client(ctx: &Ctx) -> Result<V2Client, Fail> {
    let mut client = new_client(ctx).await?;
    let debug = ctx.global.bool("debug");
    if !ctx.global.bool("no-sync") {
        if debug {
            eprintln!(
                "start to sync cluster using endpoints({})",
                client.endpoints().join(",")
            );
        }
        match ctx.total(client.sync()).await {
            Err(V2Error::NoEndpoints) => {
                return Err(Fail {
                    code: EXIT_SERVER_ERROR,
                    stderr: format!(
                        "etcd cluster has no published client endpoints.\nTry '--no-sync' if you want to access non-published client endpoints({}).\nError:  client: no endpoints available\n",
                        client.endpoints().join(",")
                    ),
                })
            }
            Err(error) if error.is_connection_error() => {
                return Err(Fail::client(EXIT_BAD_CONNECTION, &error))
            }
            _ => {}
        }
        if debug {
            eprintln!("got endpoints({}) after sync", client.endpoints().join(","));
        }
    }
    if debug {
        eprintln!("Cluster-Endpoints: {}", client.endpoints().join(", "));
    }
    Ok(client)
}

/// `mustNewClientNoSync` (cluster-health).
pub async fn client_no_sync(ctx: &Ctx) -> Result<V2Client, Fail> {
    let client = new_client(ctx).await?;
    if ctx.global.bool("debug") {
        eprintln!("Cluster-Endpoints: {}", client.endpoints().join(", "));
    }
    Ok(client)
}

/// speakeasy's `Ask`, as etcdctl asks for passwords: the prompt on
/// stdout, the terminal's echo off (`/bin/stty -echo` on our stdin) while
/// a line is read, then a newline.
pub fn ask_password(prompt: &str) -> Result<String, String> {
    print!("{prompt}");
    let _ = std::io::stdout().flush();
    let stty = |arg: &str| {
        use std::os::unix::process::CommandExt;
        // argv[0] "stty", as speakeasy execs it (stty names itself in errors).
        let _ = std::process::Command::new("/bin/stty")
            .arg0("stty")
            .arg(arg)
            .status();
    };
    stty("-echo");
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    let mut stdin = std::io::stdin();
    let result = loop {
        match stdin.read(&mut byte) {
            Ok(0) => break Ok(()),
            Ok(_) if byte[0] == b'\n' => break Ok(()),
            Ok(_) => line.push(byte[0]),
            Err(e) => break Err(format!("failed during password entry: {e}")),
        }
    };
    stty("echo");
    println!();
    result.map(|()| String::from_utf8_lossy(&line).trim().to_string())
}

/// `printResponseKey` in the `-o` format.
pub fn print_response(response: &KeysResponse, format: &str) {
    let node = response.node.clone().unwrap_or_default();
    match format {
        "simple" => {
            if response.action != "delete" {
                println!("{}", node.value);
            } else {
                let prev = response.prev_node.clone().unwrap_or_default();
                println!("PrevNode.Value: {}", prev.value);
            }
        }
        "extended" => {
            println!("Key: {}", node.key);
            println!("Created-Index: {}", node.created_index);
            println!("Modified-Index: {}", node.modified_index);
            if let Some(prev) = &response.prev_node {
                println!("PrevNode.Value: {}", prev.value);
            }
            println!("TTL: {}", node.ttl);
            println!("Index: {}", response.index);
            if response.action != "delete" {
                println!();
                println!("{}", node.value);
            }
        }
        "json" => println!("{}", response.to_json()),
        other => eprintln!("Unsupported output format: {other}"),
    }
}
