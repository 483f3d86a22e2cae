//! `auth enable | disable` (ctlv3/command/auth_command.go), the printer the
//! auth commands share (user.rs, role.rs), and password prompting as
//! etcdctl's speakeasy does it.
//!
//! ```text
//!   auth enable ─▶ AuthEnable ─ "root user does not have root role"?
//!                     │            └▶ RoleAdd root, UserGrantRole root root, again
//!                     └▶ "Authentication Enabled"
//!   ask("Password: ") ─▶ prompt on stdout, `stty -echo`, one stdin line,
//!                        `stty echo`, newline on stdout
//! ```

use std::io::{Read, Write};

use cairn_proto::etcdserverpb as pb;
use prost::Message;
use tonic::Status;

use crate::exit::{CtlError, EXIT_BAD_ARGS, EXIT_BAD_FEATURE, EXIT_ERROR};
use crate::flags::Values;
use crate::global::{connect, Format, Global};
use crate::printer::{self, JsonObject};

type Env = [(String, String)];

/// clientv3's `rpctypes.ErrRootRoleNotExist`: `auth enable` then makes the
/// root role and grants it to root.
const ROOT_ROLE_MISSING: &str = "etcdserver: root user does not have root role";

/// `auth enable`.
pub async fn enable(values: &mut Values, args: &[String], env: &Env) -> Result<(), CtlError> {
    if !args.is_empty() {
        return Err(CtlError::bad_args(
            "auth enable command does not accept any arguments",
        ));
    }
    let global = connect(values, env).await?;
    let auth = global.client.auth();
    // One deadline for the whole exchange, as etcdctl's commandCtx.
    let deadline = tokio::time::Instant::now() + global.command_timeout;
    loop {
        let status = match by(deadline, auth.clone().auth_enable(pb::AuthEnableRequest {})).await {
            Ok(_) => break,
            Err(status) => status,
        };
        let text = global.rpc_error(&status);
        if status.message() != ROOT_ROLE_MISSING {
            return Err(CtlError::new(EXIT_ERROR, text));
        }
        let role = pb::AuthRoleAddRequest {
            name: "root".to_string(),
        };
        let grant = pb::AuthUserGrantRoleRequest {
            user: "root".to_string(),
            role: "root".to_string(),
        };
        by(deadline, auth.clone().role_add(role))
            .await
            .map_err(failed(&global))?;
        by(deadline, auth.clone().user_grant_role(grant))
            .await
            .map_err(failed(&global))?;
    }
    println!("Authentication Enabled");
    Ok(())
}

/// `call` if it ends by `deadline`; Go's context error otherwise.
async fn by<T>(
    deadline: tokio::time::Instant,
    call: impl std::future::Future<Output = Result<tonic::Response<T>, Status>>,
) -> Result<T, Status> {
    match tokio::time::timeout_at(deadline, call).await {
        Ok(result) => result.map(tonic::Response::into_inner),
        Err(_) => Err(Status::deadline_exceeded("context deadline exceeded")),
    }
}

/// `auth disable`.
pub async fn disable(values: &mut Values, args: &[String], env: &Env) -> Result<(), CtlError> {
    if !args.is_empty() {
        return Err(CtlError::bad_args(
            "auth disable command does not accept any arguments",
        ));
    }
    let global = connect(values, env).await?;
    global
        .timed(global.client.auth().auth_disable(pb::AuthDisableRequest {}))
        .await
        .map_err(|s| global.failed(&s))?;
    println!("Authentication Disabled");
    Ok(())
}

/// A failed user or role call: etcd's text, exit 1.
pub fn failed(global: &Global) -> impl Fn(Status) -> CtlError + '_ {
    |status| global.failed(&status)
}

/// What an auth response looks like in each output format; [`Shown::print`]
/// writes the one `-w` asks for. Formats etcdctl's printer lacks for a
/// response fail after the call succeeded, as in etcdctl.
#[derive(Debug)]
pub struct Shown {
    header: Option<pb::ResponseHeader>,
    encoded: Vec<u8>,
    /// JSON fields after `"header"`.
    json: JsonObject,
    /// `fields` lines after the header lines; `None`: not supported.
    fields: Option<Vec<String>>,
    /// The simple printer's bytes.
    simple: Vec<u8>,
}

impl Shown {
    /// A response printed as `simple` (text, raw bytes as etcdctl prints
    /// keys) or as its header alone (json, fields) or its bytes (protobuf).
    pub fn new(
        message: &impl Message,
        header: Option<&pb::ResponseHeader>,
        simple: impl Into<Vec<u8>>,
    ) -> Shown {
        Shown {
            header: header.cloned(),
            encoded: message.encode_to_vec(),
            json: JsonObject::new(),
            fields: Some(Vec::new()),
            simple: simple.into(),
        }
    }

    pub fn json(mut self, json: JsonObject) -> Shown {
        self.json = json;
        self
    }

    pub fn fields(mut self, fields: Option<Vec<String>>) -> Shown {
        self.fields = fields;
        self
    }

    pub fn print(self, format: Format) -> Result<(), CtlError> {
        match format {
            Format::Simple => printer::write_raw(&self.simple),
            Format::Json => println!(
                "{}",
                JsonObject::new()
                    .raw("header", printer::header_json(self.header.as_ref()))
                    .inline(self.json)
                    .build()
            ),
            Format::Fields => {
                let Some(lines) = self.fields else {
                    return Err(unsupported("fields"));
                };
                printer::fields_header(self.header.as_ref());
                for line in lines {
                    println!("{line}");
                }
            }
            Format::Protobuf => printer::write_raw(&self.encoded),
            Format::Table => return Err(unsupported("table")),
        }
        Ok(())
    }
}

/// etcdctl's `printerUnsupported`.
fn unsupported(format: &str) -> CtlError {
    CtlError::new(
        EXIT_BAD_FEATURE,
        format!("{format} not supported as output format"),
    )
}

/// A list of names as JSON strings.
pub fn json_names(names: &[String]) -> Vec<String> {
    names.iter().map(|n| printer::json_string(n)).collect()
}

/// speakeasy's `Ask`: `prompt` on stdout, terminal echo off (`stty -echo`
/// on our stdin, which, as with etcdctl, complains on stderr when stdin is
/// not a terminal), one line of stdin (without `\r`, trimmed), echo back
/// on, a newline on stdout.
pub fn ask(prompt: &str) -> Result<String, String> {
    print!("{prompt}");
    let _ = std::io::stdout().flush();
    stty("-echo")
        .map_err(|e| format!("failed turning off console echo for password entry:\n\t{e}"))?;
    let line = read_line();
    let _ = stty("echo");
    println!();
    let line = line.map_err(|e| format!("failed during password entry: {e}"))?;
    Ok(line.strip_suffix('\r').unwrap_or(&line).trim().to_string())
}

/// Runs `/bin/stty <arg>` on our standard streams and waits for it.
fn stty(arg: &str) -> std::io::Result<()> {
    use std::os::unix::process::CommandExt;
    std::process::Command::new("/bin/stty")
        .arg0("stty")
        .arg(arg)
        .status()
        .map(|_| ())
}

/// Stdin up to a newline or its end, a byte at a time.
fn read_line() -> std::io::Result<String> {
    let mut line = Vec::new();
    let mut stdin = std::io::stdin().lock();
    let mut byte = [0u8; 1];
    loop {
        match stdin.read(&mut byte) {
            Ok(0) => break,
            Ok(_) if byte[0] == b'\n' => break,
            Ok(_) => line.push(byte[0]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(String::from_utf8_lossy(&line).into_owned())
}

/// Go's `fmt.Scanf("%s", &s)` on stdin: spaces skipped, then one word; a
/// newline (or the end) before any word leaves it empty.
pub fn scan_word() -> String {
    let mut word = Vec::new();
    let mut stdin = std::io::stdin().lock();
    let mut byte = [0u8; 1];
    while let Ok(1) = stdin.read(&mut byte) {
        match byte[0] {
            b'\n' => break,
            b' ' | b'\t' | b'\r' | 0x0b | 0x0c if word.is_empty() => {}
            b' ' | b'\t' | b'\r' | 0x0b | 0x0c => break,
            other => word.push(other),
        }
    }
    String::from_utf8_lossy(&word).into_owned()
}

/// etcdctl's `readPasswordInteractive`: asked twice, must match, must not
/// be empty (errors exit 128).
pub fn read_password_interactive(name: &str) -> Result<String, CtlError> {
    let ask_failed =
        |e: String| CtlError::new(EXIT_BAD_ARGS, format!("failed to ask password: {e}"));
    let first = ask(&format!("Password of {name}: ")).map_err(ask_failed)?;
    if first.is_empty() {
        return Err(CtlError::bad_args("empty password"));
    }
    let second =
        ask(&format!("Type password of {name} again for confirmation: ")).map_err(ask_failed)?;
    if first != second {
        return Err(CtlError::bad_args("given passwords are different"));
    }
    Ok(first)
}
