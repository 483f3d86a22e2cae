//! The v2 keys commands (ctlv2/command/{get,set,mk,update,mkdir,setdir,
//! updatedir,rm,rmdir,ls,watch,exec-watch}_command.go): each a keys API
//! call whose answer `printResponseKey` prints.

use std::io::Read;

use cairn_client::v2::{KeysResponse, Node, PrevExist, SetOptions, V2Client};

use super::output::{client, print_response, Fail, Outcome, EXIT_BAD_ARGS, EXIT_SERVER_ERROR};
use super::Ctx;

/// The first argument, or etcdctl's `key required`.
fn key(ctx: &Ctx) -> Result<String, Fail> {
    ctx.args
        .first()
        .cloned()
        .ok_or_else(|| Fail::handle(EXIT_BAD_ARGS, "key required"))
}

/// `argOrStdin`: the second argument, else all of stdin (`value
/// required` when it is empty).
fn value(ctx: &Ctx) -> Result<String, Fail> {
    if let Some(value) = ctx.args.get(1) {
        return Ok(value.clone());
    }
    let mut text = String::new();
    match std::io::stdin().read_to_string(&mut text) {
        Ok(_) if !text.is_empty() => Ok(text),
        _ => Err(Fail::handle(EXIT_BAD_ARGS, "value required")),
    }
}

/// A TTL flag as the client sends it (Go converts a negative one to no TTL).
fn ttl(ctx: &Ctx) -> u64 {
    u64::try_from(ctx.flags.int("ttl")).unwrap_or(0)
}

/// A keys call's answer, or `handleError` with the server-error exit code.
fn answered(result: Result<KeysResponse, cairn_client::v2::V2Error>) -> Result<KeysResponse, Fail> {
    result.map_err(|e| Fail::client(EXIT_SERVER_ERROR, &e))
}

/// `get <key>`: a directory is refused.
pub async fn get(ctx: &Ctx) -> Outcome {
    let mut client = client(ctx).await?;
    let key = key(ctx)?;
    let (sort, quorum) = (ctx.flags.bool("sort"), ctx.flags.bool("quorum"));
    let response = answered(ctx.total(client.keys_get(&key, false, sort, quorum)).await)?;
    let node = response.node.clone().unwrap_or_default();
    if node.dir {
        return Err(Fail::line(1, format!("{}: is a directory", node.key)));
    }
    print_response(&response, &ctx.output());
    Ok(())
}

/// `set`, `mk` (`--in-order`) and `update`: a value under a condition.
pub async fn set(ctx: &Ctx, command: &str) -> Outcome {
    let mut client = client(ctx).await?;
    let key = key(ctx)?;
    let value = value(ctx)?;
    let mut options = SetOptions {
        ttl: ttl(ctx),
        ..SetOptions::default()
    };
    let call = match command {
        "mk" if ctx.flags.bool("in-order") => {
            ctx.total(client.keys_create_in_order(&key, &value, options.ttl))
                .await
        }
        _ => {
            match command {
                "mk" => options.prev_exist = PrevExist::NoExist,
                "update" => options.prev_exist = PrevExist::Exist,
                _ => {
                    options.prev_value = ctx.flags.string("swap-with-value");
                    options.prev_index = ctx.flags.int("swap-with-index") as u64;
                }
            }
            ctx.total(client.keys_set(&key, &value, &options)).await
        }
    };
    print_response(&answered(call)?, &ctx.output());
    Ok(())
}

/// `mkdir` (must not exist), `setdir` (any) and `updatedir` (must exist):
/// printed only in the extended and json formats.
pub async fn mkdir(ctx: &Ctx, command: &str) -> Outcome {
    let mut client = client(ctx).await?;
    let key = key(ctx)?;
    let options = SetOptions {
        ttl: ttl(ctx),
        dir: true,
        prev_exist: match command {
            "mkdir" => PrevExist::NoExist,
            "updatedir" => PrevExist::Exist,
            _ => PrevExist::Ignore,
        },
        ..SetOptions::default()
    };
    let response = answered(ctx.total(client.keys_set(&key, "", &options)).await)?;
    if ctx.output() != "simple" {
        print_response(&response, &ctx.output());
    }
    Ok(())
}

/// `rm` (`--dir`, `--recursive`, `--with-value`, `--with-index`) and
/// `rmdir`; a removed directory is not printed in the simple format.
pub async fn rm(ctx: &Ctx, command: &str) -> Outcome {
    let mut client = client(ctx).await?;
    let key = key(ctx)?;
    let flags = &ctx.flags;
    let with_value = flags.string("with-value");
    let call = if command == "rmdir" {
        client.keys_delete(&key, "", 0, true, false)
    } else {
        client.keys_delete(
            &key,
            &with_value,
            flags.int("with-index") as u64,
            flags.bool("dir"),
            flags.bool("recursive"),
        )
    };
    let response = answered(ctx.total(call).await)?;
    let dir = response.node.as_ref().is_some_and(|n| n.dir);
    if !dir || ctx.output() != "simple" {
        print_response(&response, &ctx.output());
    }
    Ok(())
}

/// `ls [key]`: the keys under a directory (`-p`: directories with a
/// trailing slash), or the answer in the extended and json formats.
pub async fn ls(ctx: &Ctx) -> Outcome {
    let mut client = client(ctx).await?;
    let key = ctx.args.first().cloned().unwrap_or_else(|| "/".to_string());
    let flags = &ctx.flags;
    let call = client.keys_get(
        &key,
        flags.bool("recursive"),
        flags.bool("sort"),
        flags.bool("quorum"),
    );
    let response = answered(ctx.total(call).await)?;
    if ctx.output() != "simple" {
        print_response(&response, &ctx.output());
        return Ok(());
    }
    let node = response.node.unwrap_or_default();
    if !node.dir {
        println!("{}", node.key);
    }
    let slash = flags.bool("p");
    for child in node.nodes.iter().flatten() {
        print_tree(child, slash);
    }
    Ok(())
}

fn print_tree(node: &Node, slash: bool) {
    if node.dir && slash {
        println!("{}/", node.key);
    } else {
        println!("{}", node.key);
    }
    for child in node.nodes.iter().flatten() {
        print_tree(child, slash);
    }
}

/// etcd's `Watcher.Next`: waits (round after round) for the next event
/// from `index`; the event and the index after it.
async fn next_event(
    client: &mut V2Client,
    key: &str,
    index: &mut u64,
    recursive: bool,
) -> Result<KeysResponse, Fail> {
    loop {
        let answer = client.keys_wait(key, *index, recursive).await;
        // `None`: the round ended without an event (an empty body).
        let Some(response) = answer.map_err(|e| Fail::client(EXIT_SERVER_ERROR, &e))? else {
            continue;
        };
        let Some(node) = &response.node else {
            // etcdctl would dereference a nil node here and crash.
            return Err(Fail::handle(
                EXIT_SERVER_ERROR,
                "watch answer without a node",
            ));
        };
        *index = node.modified_index + 1;
        return Ok(response);
    }
}

/// The first wait index: after `--after-index`, else from now.
fn first_index(ctx: &Ctx) -> u64 {
    match ctx.flags.int("after-index") {
        after if after > 0 => after as u64 + 1,
        _ => 0,
    }
}

/// `watch <key>`: the next change (every change with `--forever`);
/// directories' own changes are skipped; recursive watches name the
/// action and key first.
pub async fn watch(ctx: &Ctx) -> Outcome {
    let mut client = client(ctx).await?;
    let key = key(ctx)?;
    let recursive = ctx.flags.bool("recursive");
    let forever = ctx.flags.bool("forever");
    let mut index = first_index(ctx);
    loop {
        let response = next_event(&mut client, &key, &mut index, recursive).await?;
        let node = response.node.clone().unwrap_or_default();
        if node.dir {
            continue;
        }
        if recursive {
            println!("[{}] {}", response.action, node.key);
        }
        print_response(&response, &ctx.output());
        if !forever {
            return Ok(());
        }
    }
}

/// `exec-watch <key> -- <command> [args...]`: runs the command on every
/// change, with `ETCD_WATCH_*` describing it.
pub async fn exec_watch(ctx: &Ctx) -> Outcome {
    let mut client = client(ctx).await?;
    let args = &ctx.args;
    if args.len() < 2 {
        return Err(Fail::handle(
            EXIT_BAD_ARGS,
            "key and command to exec required",
        ));
    }
    let separated = args.iter().skip(1).any(|a| a == "--");
    let (key, command) = if separated {
        (args[0].clone(), args[2..].to_vec())
    } else {
        (
            args[args.len() - 1].clone(),
            args[..args.len() - 1].to_vec(),
        )
    };
    let recursive = ctx.flags.bool("recursive");
    let mut index = first_index(ctx);
    loop {
        let response = next_event(&mut client, &key, &mut index, recursive).await?;
        let node = response.node.clone().unwrap_or_default();
        if node.dir {
            eprintln!("Ignored dir {} change", node.key);
            continue;
        }
        let Some((program, program_args)) = command.split_first() else {
            return Err(Fail::line(1, "exec: no command"));
        };
        let spawned = std::process::Command::new(program)
            .args(program_args)
            .env_clear()
            .envs(ctx.environment().cloned())
            .env("ETCD_WATCH_ACTION", &response.action)
            .env("ETCD_WATCH_MODIFIED_INDEX", node.modified_index.to_string())
            .env("ETCD_WATCH_KEY", &node.key)
            .env("ETCD_WATCH_VALUE", &node.value)
            .spawn();
        match spawned {
            Ok(mut child) => {
                // Reaped on a thread of its own: the watch goes on meanwhile.
                std::thread::spawn(move || child.wait());
            }
            Err(error) => {
                let text = match error.kind() {
                    std::io::ErrorKind::NotFound => {
                        format!("exec: {program:?}: executable file not found in $PATH")
                    }
                    _ => error.to_string(),
                };
                return Err(Fail {
                    code: 1,
                    stderr: text,
                });
            }
        }
    }
}
