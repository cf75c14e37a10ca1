//! # rill: the command-line tool
//!
//! One binary for every part of the stack:
//!
//! * `rill serve`: the Kinesis wire protocol over HTTP on an embedded engine ([`serve`]).
//! * `rill stream create|list|describe|delete` ([`stream`]).
//! * `rill put STREAM`: stdin lines (or one record) through the producer, rill-kpl
//!   ([`put`]).
//! * `rill tail STREAM [--follow]`: records, parents before children ([`tail`]).
//! * `rill agent run --config FILE` and `rill generate`: the rill-agent library ([`agent`]).
//! * `rill multilang --properties FILE`: the KCL MultiLangDaemon on rill-kcl, for record
//!   processors written with amazon_kclpy, aws-kcl or any other MultiLang library
//!   ([`multilang`], protocol in `rill_kcl::multilang`).
//!
//! Client commands talk to `--endpoint URL` (default `http://127.0.0.1:4567`, or
//! `RILL_ENDPOINT`) or to an embedded engine with `--data-dir DIR`. The parser is public, so
//! the commands can be driven from Rust too:
//!
//! ```
//! use clap::Parser;
//! use rill::{Cli, Command};
//!
//! let cli = Cli::try_parse_from(["rill", "put", "orders", "--key-field", "customer"])?;
//! match cli.command {
//!     Command::Put(args) => {
//!         assert_eq!(args.stream, "orders");
//!         assert_eq!(args.key_field.as_deref(), Some("customer"));
//!         assert_eq!(args.data, "-"); // stdin, one record per line
//!     }
//!     _ => unreachable!(),
//! }
//! # Ok::<(), clap::Error>(())
//! ```

pub mod agent;
pub mod multilang;
pub mod put;
pub mod serve;
pub mod signal;
pub mod stream;
pub mod tail;
pub mod target;

use clap::{Parser, Subcommand};

/// The error type of the commands.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// `rill`'s command line.
#[derive(Parser, Debug)]
#[command(
    name = "rill",
    version,
    about = "rill: a Kinesis Data Streams engine, producer, consumer and agent"
)]
pub struct Cli {
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve the Kinesis API over HTTP (HTTP/1.1 and cleartext HTTP/2 on one port).
    Serve(serve::ServeArgs),
    /// Create, list, describe or delete streams.
    Stream {
        /// The stream command.
        #[command(subcommand)]
        command: stream::StreamCommand,
    },
    /// Put records through the producer: DATA as one record, or `-` (the default) for one
    /// record per stdin line.
    Put(put::PutArgs),
    /// Print a stream's records (KPL aggregates are split into their user records).
    Tail(tail::TailArgs),
    /// The log-file agent.
    Agent {
        /// The agent command.
        #[command(subcommand)]
        command: AgentCommand,
    },
    /// Put records made from a template (the data generator).
    Generate(agent::GenerateArgs),
    /// Run record processors in other languages (amazon_kclpy, aws-kcl, ...): the KCL
    /// MultiLangDaemon, configured by its properties file.
    Multilang(multilang::MultiLangArgs),
}

/// `rill agent` subcommands.
#[derive(Subcommand, Debug)]
pub enum AgentCommand {
    /// Tail the files of the config's flows into their streams until SIGINT/SIGTERM.
    Run(agent::AgentRunArgs),
}

/// Runs one command.
///
/// # Cancel safety
/// Not cancel safe: see each command.
pub async fn run(cli: Cli) -> Result<(), BoxError> {
    match cli.command {
        Command::Serve(args) => serve::serve(args).await,
        Command::Stream { command } => stream::stream(command).await,
        Command::Put(args) => put::put(args).await,
        Command::Tail(args) => tail::tail(args).await,
        Command::Agent {
            command: AgentCommand::Run(args),
        } => agent::agent_run(args).await,
        Command::Generate(args) => agent::generate_cmd(args).await,
        Command::Multilang(args) => multilang::multilang(args).await,
    }
}
