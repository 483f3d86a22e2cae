//! The global flags once a command talks to the cluster: `ETCDCTL_*`
//! environment variables (etcd's pkg/flags rules), the output format, and
//! the cairn-client configuration; gRPC errors as etcdctl words them.
//!
//! ```text
//!   command line ─┐
//!   ETCDCTL_* ────┴▶ Values ──▶ Global { format, hex, command timeout }
//!                        └────▶ ClientConfig ──▶ Client::connect
//!   flag set on the line AND its variable set ──▶ "C | pkg/flags:
//!     conflicting environment variable ..." and exit 1
//! ```

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cairn_client::{endpoint, AuthError, Client, ClientConfig, Credentials, TlsOptions};
use tonic::{Code, Status};

use crate::exit::{CtlError, EXIT_BAD_ARGS, EXIT_BAD_CONNECTION, EXIT_BAD_FEATURE, EXIT_ERROR};
use crate::flags::Values;
use crate::spec::GLOBAL_FLAGS;

/// How results are printed (`-w`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Simple,
    Json,
    Fields,
    Table,
    Protobuf,
}

/// What every cluster command needs.
#[derive(Debug)]
pub struct Global {
    pub format: Format,
    pub hex: bool,
    pub command_timeout: Duration,
    pub client: Client,
    /// The first endpoint as given, for etcd's client log lines.
    pub target: String,
}

/// `ETCDCTL_<FLAG>` for a flag name.
pub fn env_name(flag: &str) -> String {
    format!("ETCDCTL_{}", flag.replace('-', "_").to_uppercase())
}

/// etcd's `flags.SetPflagsFromEnv("ETCDCTL", ...)` over the global flags:
/// a variable fills a flag the command line left alone (a bad value is
/// ignored, as etcdctl ignores the error); a variable shadowed by its flag
/// is fatal; unknown `ETCDCTL_*` variables are warned about.
pub fn apply_env(values: &mut Values, env: &[(String, String)]) -> Result<(), CtlError> {
    let lookup = |key: &str| {
        env.iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    let mut used = Vec::new();
    let mut shadowed = Vec::new();
    for flag in GLOBAL_FLAGS {
        let key = env_name(flag.name);
        if values.changed(flag.name) {
            shadowed.push(key);
            continue;
        }
        if let Some(value) = lookup(&key).filter(|v| !v.is_empty()) {
            let _ = values.set(flag.name, &value);
            used.push(key);
        }
    }
    for (key, value) in env {
        if used.contains(key) {
            continue;
        }
        if shadowed.contains(key) {
            eprintln!(
                "{} C | pkg/flags: conflicting environment variable {key:?} is shadowed by corresponding command-line flag (either unset environment variable or disable flag)",
                log_time()
            );
            return Err(CtlError::new(EXIT_ERROR, ""));
        }
        if key.starts_with("ETCDCTL_") && key != "ETCDCTL_API" {
            eprintln!(
                "{} W | pkg/flags: unrecognized environment variable {key}={value}",
                log_time()
            );
        }
    }
    Ok(())
}

/// Applies the environment, checks the output format and dials the
/// endpoints: what etcdctl's `mustClientFromCmd` does.
pub async fn connect(values: &mut Values, env: &[(String, String)]) -> Result<Global, CtlError> {
    try_connect(values, env).await?.map_err(|(target, error)| {
        warn_rpc(&target, UNREACHABLE);
        CtlError::new(EXIT_ERROR, "context deadline exceeded").with_hint(format!(
            "{error}; check --endpoints (and --cacert/--cert/--key for TLS endpoints)"
        ))
    })
}

/// [`connect`], but endpoints none of which can be reached are
/// `Ok(Err((first endpoint, dial error)))`, with nothing printed: for the commands that
/// go on to the next endpoint (`endpoint status`, `defrag`, ...).
pub async fn try_connect(
    values: &mut Values,
    env: &[(String, String)],
) -> Result<Result<Global, (String, String)>, CtlError> {
    apply_env(values, env)?;
    if values.bool("debug") {
        for flag in GLOBAL_FLAGS {
            eprintln!("{}={}", env_name(flag.name), values.shown(flag.name));
        }
    }
    let format = output_format(values)?;
    for name in ["cert", "key", "cacert"] {
        if values.changed(name) && values.string(name).is_empty() {
            return Err(CtlError::new(
                EXIT_BAD_ARGS,
                format!("empty string is passed to --{name} option"),
            ));
        }
    }
    let endpoints_given = endpoints_from_values(values).await?;
    let target = endpoints_given.first().cloned().unwrap_or_default();
    let endpoints = endpoint::parse_list(&endpoints_given)
        .map_err(|e| CtlError::new(EXIT_ERROR, e.to_string()))?;
    let path = |name: &str| {
        let text = values.string(name);
        (!text.is_empty()).then(|| text.into())
    };
    let tls = TlsOptions {
        ca_file: path("cacert"),
        cert_file: path("cert"),
        key_file: path("key"),
        insecure_skip_verify: values.bool("insecure-skip-tls-verify"),
    };
    let command_timeout = values.duration("command-timeout");
    let mut config = ClientConfig::new(endpoints)
        .with_dial_timeout(values.duration("dial-timeout"))
        .with_tls(tls);
    let user = values.string("user");
    if !user.is_empty() {
        let password = values.string("password");
        // etcdctl 3.4 splits `name:password` only without --password, and
        // asks for a missing password.
        let (name, password) = match user.split_once(':') {
            _ if !password.is_empty() => (user, password),
            Some((name, password)) => (name.to_string(), password.to_string()),
            None => {
                let asked =
                    crate::auth::ask("Password: ").map_err(|e| CtlError::new(EXIT_ERROR, e))?;
                (user, asked)
            }
        };
        // clientv3 authenticates only with a password; without one the
        // server sees requests from no user.
        if !password.is_empty() {
            let credentials = Credentials::new(name, password);
            config = config.with_credentials(credentials);
        }
    }
    // After the password prompt, as etcdctl's newClientCfg.
    crate::tls_files::check(values)?;
    let client = match Client::connect(config).await {
        Ok(client) => client,
        // clientv3.New fails with the server's answer to Authenticate.
        Err(cairn_client::Error::Auth(AuthError::Refused { status, .. })) => {
            warn_rpc(&target, &go_status(&status));
            return Err(CtlError::new(EXIT_BAD_CONNECTION, error_text(&status)));
        }
        Err(error) => return Ok(Err((target, error.to_string()))),
    };
    Ok(Ok(Global {
        format,
        hex: values.bool("hex"),
        command_timeout,
        client,
        target,
    }))
}

/// etcdctl's `endpointsFromCmd`: with `--discovery-srv`, the endpoints of
/// the domain's `_etcd-client[-ssl][-<name>]._tcp` SRV records (only the
/// https ones unless `--insecure-discovery`, the default); `--endpoints`
/// when there is no domain or it gave none.
pub async fn endpoints_from_values(values: &Values) -> Result<Vec<String>, CtlError> {
    let domain = values.string("discovery-srv");
    if !domain.is_empty() {
        let name = values.string("discovery-srv-name");
        let records = cairn_client::srv::client_records(&domain, Some(name.as_str()))
            .await
            .map_err(|e| CtlError::new(EXIT_ERROR, e))?;
        let mut found = Vec::new();
        for (endpoint, _) in records {
            if !values.bool("insecure-discovery") && endpoint.starts_with("http://") {
                eprintln!("ignoring discovered insecure endpoint {endpoint:?}");
                continue;
            }
            found.push(endpoint);
        }
        if !found.is_empty() {
            return Ok(found);
        }
    }
    Ok(values
        .strings("endpoints")
        .iter()
        .map(|e| e.trim().to_string())
        .collect())
}

/// `-w`'s format (etcdctl's `initDisplayFromCmd`).
pub fn output_format(values: &Values) -> Result<Format, CtlError> {
    Ok(match values.string("write-out").as_str() {
        "simple" => Format::Simple,
        "json" => Format::Json,
        "fields" => Format::Fields,
        "table" => Format::Table,
        "protobuf" => Format::Protobuf,
        _ => return Err(CtlError::new(EXIT_BAD_FEATURE, "unsupported output format")),
    })
}

impl Global {
    /// A failed call as etcdctl reports it: clientv3's retry interceptor
    /// logs a warning, and the error text is etcd's (`etcdserver: ...`)
    /// when the server sent one of its own, Go's context error on a
    /// timeout, gRPC's `rpc error: ...` otherwise.
    pub fn rpc_error(&self, status: &Status) -> String {
        if is_connection_failure(status) {
            // clientv3 keeps retrying a broken connection until the
            // deadline.
            warn_rpc(&self.target, UNREACHABLE);
            return "context deadline exceeded".to_string();
        }
        warn_rpc(&self.target, &go_status(status));
        error_text(status)
    }

    /// [`Global::rpc_error`] as the error a command ends with (exit 1).
    pub fn failed(&self, status: &Status) -> CtlError {
        CtlError::new(EXIT_ERROR, self.rpc_error(status))
    }

    /// Runs `call` within `--command-timeout`.
    pub async fn timed<T>(
        &self,
        call: impl std::future::Future<Output = Result<tonic::Response<T>, Status>>,
    ) -> Result<T, Status> {
        match tokio::time::timeout(self.command_timeout, call).await {
            Ok(result) => result.map(tonic::Response::into_inner),
            Err(_) => Err(Status::deadline_exceeded("context deadline exceeded")),
        }
    }
}

/// What clientv3's retry interceptor logs when no connection can be made.
const UNREACHABLE: &str =
    "rpc error: code = DeadlineExceeded desc = latest balancer error: all SubConns are in TransientFailure";

/// A call that failed in the connection (a TLS handshake the server
/// refused after all, HTTP/2 garbage), not in the server's answer.
/// Such statuses are made here, by tonic, and carry the transport's error
/// as their source; a server's statuses carry none.
fn is_connection_failure(status: &Status) -> bool {
    std::error::Error::source(status).is_some()
        || (status.code() == Code::Unknown && status.message() == "transport error")
        || (status.code() == Code::Internal && status.message().starts_with("h2 protocol error"))
}

/// clientv3's translation of a gRPC status into the error it returns.
pub fn error_text(status: &Status) -> String {
    match status.code() {
        Code::DeadlineExceeded => "context deadline exceeded".to_string(),
        Code::Cancelled => "context canceled".to_string(),
        _ if status.message().starts_with("etcdserver: ") => status.message().to_string(),
        _ => go_status(status),
    }
}

/// grpc-go's `rpc error: code = X desc = Y`.
pub fn go_status(status: &Status) -> String {
    let code = match status.code() {
        Code::Ok => "OK",
        Code::Cancelled => "Canceled",
        Code::Unknown => "Unknown",
        Code::InvalidArgument => "InvalidArgument",
        Code::DeadlineExceeded => "DeadlineExceeded",
        Code::NotFound => "NotFound",
        Code::AlreadyExists => "AlreadyExists",
        Code::PermissionDenied => "PermissionDenied",
        Code::ResourceExhausted => "ResourceExhausted",
        Code::FailedPrecondition => "FailedPrecondition",
        Code::Aborted => "Aborted",
        Code::OutOfRange => "OutOfRange",
        Code::Unimplemented => "Unimplemented",
        Code::Internal => "Internal",
        Code::Unavailable => "Unavailable",
        Code::DataLoss => "DataLoss",
        Code::Unauthenticated => "Unauthenticated",
    };
    format!("rpc error: code = {code} desc = {}", status.message())
}

/// clientv3's `retrying of unary invoker failed` warning (zap JSON).
fn warn_rpc(target: &str, error: &str) {
    warn_retry(
        &format!("endpoint://client-{}/{target}", client_id()),
        error,
    );
}

/// That warning with the gRPC target written out: `passthrough:///<ep>`
/// for the connections clientv3 dials to one endpoint (`Status`,
/// `HashKV`, `Defragment`).
pub fn warn_retry(target: &str, error: &str) {
    eprintln!(
        "{{\"level\":\"warn\",\"ts\":\"{}\",\"caller\":\"clientv3/retry_interceptor.go:62\",\"msg\":\"retrying of unary invoker failed\",\"target\":\"{target}\",\"attempt\":0,\"error\":{error:?}}}",
        zap_time(),
    );
}

/// A UUID-shaped id for the log lines' target (clientv3 makes a random one).
fn client_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mixed = nanos ^ ((std::process::id() as u128) << 64);
    let hex = format!(
        "{:032x}",
        mixed.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835)
    );
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Now as (year, month, day, hour, minute, second, microsecond) in UTC.
fn now_utc() -> (i64, u32, u32, u64, u64, u64, u32) {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = since.as_secs();
    let days = (secs / 86_400) as i64;
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    let rem = secs % 86_400;
    (
        year,
        month,
        day,
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        since.subsec_micros(),
    )
}

/// capnslog's time: `2026-12-06 11:29:18.711504`.
pub fn log_time() -> String {
    let (y, mo, d, h, mi, s, us) = now_utc();
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}.{us:06}")
}

/// zap's ISO8601 time: `2026-12-06T11:29:29.620Z`.
pub fn zap_time() -> String {
    let (y, mo, d, h, mi, s, us) = now_utc();
    format!(
        "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{:03}Z",
        us / 1000
    )
}
