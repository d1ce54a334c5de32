//! `scoreticker-load`: the load and measurement tool for scoreticker's fan-out (and for
//! any server speaking its wire protocol, such as the Node `ws` peer in tests/bench).
//!
//! * `subscribe`: N WebSocket subscribers, spread round-robin over loopback source
//!   addresses and over child processes of this binary (one process may hold only
//!   ~19,900 sockets here). Measures delivery latency (`now - ts` of every update or
//!   remove event, events inside a batch counted one by one), frames/s, and, given
//!   `--server-pid`, the server's CPU time per delivery and RSS per subscriber.
//! * `storm`: N subscribers drop and reconnect at once with `since`; time until all
//!   have their snapshot or replay, and whether any event was missed (seq continuity).
//! * `upstream`: a synthetic ESPN site-API scoreboard whose scores change on a clock,
//!   so the real poller → adapter → diff → hub path produces the events.
//! * `floor`: the reference broadcaster the benchmark divides by (see [`floor`]).
//! * `table`: the benchmark table from the JSON results (used by tests/bench/run.sh).
//! * `wait-quiet`: waits until the machine is quiet before a measurement.
//!
//! The parent never holds sockets: it re-executes itself with a hidden `--child`
//! flag P times, talks to the children over their stdin (commands: `start`, `stop`,
//! `storm`, `exit`) and stdout (one JSON object a line), and aggregates.
//!
//! The map: [`cli`] (flags) → [`subscribe`], [`storm`] (the measurements) on top of
//! [`parent`] (client processes, aggregation) and [`child`] (one client process) →
//! [`connection`] (one subscriber; with `--deflate` through [`deflate`], which
//! negotiates permessage-deflate) → [`frames`] (what a frame is) and [`counters`];
//! [`measure`] (/proc, histogram), [`quiet`], [`report`], [`table`], [`upstream`], [`floor`].

mod child;
mod cli;
mod connection;
mod counters;
mod deflate;
mod floor;
mod frames;
mod measure;
mod parent;
mod quiet;
mod report;
mod storm;
mod subscribe;
mod table;
mod upstream;

use std::process::ExitCode;

use clap::Parser;
use serde_json::Value;

use crate::child::{run_child, StormOpts};
use crate::cli::{Cli, Command};
use crate::quiet::wait_quiet;
use crate::report::print_human;
use crate::storm::storm;
use crate::subscribe::subscribe;
use crate::table::table;
use crate::upstream::upstream;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Subscribe(a) if a.client.child => run_child(a.client, None),
        Command::Storm(a) if a.client.child => {
            let storm = StormOpts { down: a.down, concurrency: a.storm_concurrency, url: a.storm_url };
            run_child(a.client, Some(storm))
        }
        Command::Subscribe(a) => parent(a.client.json, async move { subscribe(a).await }),
        Command::Storm(a) => parent(a.client.json, async move { storm(a).await }),
        Command::Upstream(a) => upstream(a),
        Command::Floor(a) => floor::floor(a),
        Command::WaitQuiet(a) => wait_quiet(&a),
        Command::Table(a) => match table(&a) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("scoreticker-load table: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

fn parent(json_out: bool, job: impl std::future::Future<Output = Result<Value, String>>) -> ExitCode {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    match runtime.block_on(job) {
        Ok(result) => {
            if json_out {
                println!("{}", serde_json::to_string_pretty(&result).expect("json"));
            } else {
                print_human(&result);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("scoreticker-load: {e}");
            ExitCode::FAILURE
        }
    }
}
