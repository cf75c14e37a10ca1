//! SIGINT (Ctrl-C) and SIGTERM: the graceful stop of every long-running command.

/// Completes on the first SIGINT or SIGTERM.
///
/// # Cancel safety
/// Cancel safe: dropping it only stops listening.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("signal received: shutting down");
}
