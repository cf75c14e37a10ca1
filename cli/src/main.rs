//! `rill`: see the library docs (`cargo doc -p rill`) or `rill --help`.

use clap::Parser;

fn main() {
    let cli = rill::Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("rill: starting the runtime: {e}");
            std::process::exit(1);
        }
    };
    let result = runtime.block_on(rill::run(cli));
    // Blocking reads (stdin) must not hold the exit.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    if let Err(e) = result {
        eprintln!("rill: {e}");
        std::process::exit(1);
    }
}
