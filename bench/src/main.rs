//! `loadgen`: measures SSE fan-out (publish → receive latency, delivery, server CPU and
//! memory) of Session Gateway and of peers, with the same load for each.
//!
//! Layout:
//! - `config`: the command line.
//! - `plan`: which session each event and subscriber belongs to; the event JSON.
//! - `target`: subscribe URLs and HTTP publishing per server kind.
//! - `sqs`: publishing through the gateway's SQS metadata queue instead.
//! - `publish`: paced publisher workers.
//! - `subscribe`: one SSE subscriber and the latencies it saw.
//! - `procstat`: the target's CPU time and peak RSS from /proc.
//! - `run`: one measured run; `report`: its summary and markdown row.
//!
//! `bench/run.sh` starts the servers and runs the scenarios; BENCHMARKS.md has results.

mod config;
mod plan;
mod procstat;
mod publish;
mod report;
mod run;
mod sqs;
mod subscribe;
mod target;

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = config::Config::parse();
    if config.print_header {
        println!("{}", report::HEADER);
        return Ok(());
    }
    let report = run::run(&config).await?;
    for problem in report.problems() {
        eprintln!("loadgen: {}: {problem}", config.label);
    }
    println!("{}", report.row());
    Ok(())
}
