//! `loadgen`: measures SSE fan-out (publish → receive latency, delivery in sequence,
//! server CPU and memory) of Session Gateway and of peers, with the same load for each.
//!
//! Layout:
//! - `config`: the command line.
//! - `plan`: which session each event and subscriber belongs to; the event JSON.
//! - `schedule`: the open-loop publishing schedule and latency from it.
//! - `target`: subscribe URLs and HTTP publishing per server kind.
//! - `sqs`: publishing through the gateway's SQS metadata queue instead.
//! - `publish`: the scheduled publisher workers.
//! - `subscribe`: one SSE subscriber, its sequence check and latencies, its resumes.
//! - `seq`: the per-subscriber sequence check (gaps, duplicates, order).
//! - `procstat`: the target's CPU time and PSS from /proc.
//! - `run`: one measured run; `report`: its record, and the tables over repeats;
//!   `stats`: percentiles and spreads; `timeline`: the run in slots of due time, for
//!   finding stalls.
//!
//! `bench/run.sh` (`just bench`) starts the servers and runs the scenarios; BENCHMARKS.md
//! has results.

mod config;
mod plan;
mod procstat;
mod publish;
mod report;
mod run;
mod schedule;
mod seq;
mod sqs;
mod sse_client;
mod stats;
mod subscribe;
mod target;
mod timeline;

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = config::Config::parse();
    if let Some(path) = &config.summarize {
        print!("{}", report::summarize(path)?);
        return Ok(());
    }
    let record = run::run(&config).await?;
    if let Some(path) = &config.record {
        record.append_to(path)?;
    }
    println!("{}", record.summary());
    if record.failed() {
        std::process::exit(1);
    }
    Ok(())
}
