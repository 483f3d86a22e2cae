//! `elect <election-name> [proposal]` and `elect -l <election-name>`
//! (ctlv3/command/elect_command.go) on cairn-client's [`Election`].
//!
//! ```text
//!   elect name proposal ─▶ Session ─▶ Election::campaign ─▶ print the leader
//!                          key (as `get` does) ─▶ hold until SIGINT/SIGTERM
//!                          (resign, exit 0) or the session ends (exit 1)
//!   elect -l name       ─▶ Election::observe ─▶ print each leader / value
//!                          until SIGINT/SIGTERM (exit 0) or the observer
//!                          ends ("elect: observer lost", exit 1)
//! ```

use cairn_client::concurrency::{Election, Session, SessionOptions};
use cairn_proto::etcdserverpb as pb;

use crate::exit::{CtlError, EXIT_ERROR};
use crate::flags::Values;
use crate::global::{connect, Global};
use crate::kv::print_get;
use crate::lock::{canceled, interrupted, print_key, recipe_error};

type Env = [(String, String)];

/// `elect`.
pub async fn elect(values: &mut Values, args: &[String], env: &Env) -> Result<(), CtlError> {
    if args.len() != 1 && args.len() != 2 {
        return Err(CtlError::bad_args(
            "elect takes one election name argument and an optional proposal argument",
        ));
    }
    let listen = values.bool("listen");
    let global = connect(values, env).await?;
    match (args, listen) {
        ([_], false) => Err(CtlError::bad_args("no proposal argument but -l not set")),
        ([_, _], true) => Err(CtlError::bad_args("proposal given but -l is set")),
        ([name], true) => observe(&global, name).await,
        ([name, proposal], false) => campaign(&global, name, proposal).await,
        _ => Err(CtlError::bad_args("elect takes one or two arguments")),
    }
}

/// Prints every leader of `name` until a signal.
async fn observe(global: &Global, name: &str) -> Result<(), CtlError> {
    let session = Session::new(&global.client, SessionOptions::default())
        .await
        .map_err(|e| recipe_error(global, e))?;
    let election = Election::new(&session, name.as_bytes());
    let mut observer = election.observe();
    let signal = interrupted();
    tokio::pin!(signal);
    loop {
        let event = tokio::select! {
            event = observer.next() => event,
            _ = &mut signal => return Ok(()),
        };
        let Some(event) = event else {
            return Err(CtlError::new(EXIT_ERROR, "elect: observer lost"));
        };
        // etcd's observe sends a GetResponse holding just the leader's key.
        let response = pb::RangeResponse {
            header: Some(event.header),
            kvs: vec![event.kv],
            more: event.more,
            count: event.count,
        };
        print_get(global.format, global.hex, false, &response)?;
    }
}

/// Campaigns with `proposal`, prints the leader key once elected, and
/// leads until a signal (then resigns).
async fn campaign(global: &Global, name: &str, proposal: &str) -> Result<(), CtlError> {
    let session = Session::new(&global.client, SessionOptions::default())
        .await
        .map_err(|e| recipe_error(global, e))?;
    let mut election = Election::new(&session, name.as_bytes());
    let signal = interrupted();
    tokio::pin!(signal);
    let won = tokio::select! {
        won = election.campaign(proposal.as_bytes().to_vec()) => Some(won),
        _ = &mut signal => None,
    };
    match won {
        Some(Ok(())) => {}
        Some(Err(error)) => return Err(recipe_error(global, error)),
        None => {
            // Abandoned while waiting: leave the queue.
            let _ = election.resign().await;
            return Err(canceled());
        }
    }
    print_key(global, election.key()).await?;
    tokio::select! {
        _ = signal => {}
        _ = session.done() => return Err(CtlError::new(EXIT_ERROR, "elect: session expired")),
    }
    election.resign().await.map_err(|e| recipe_error(global, e))
}
