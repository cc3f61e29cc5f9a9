//! Serving the router on a listener until asked to stop.

use std::future::Future;

use tokio::net::TcpListener;

use crate::routes::router;
use crate::state::AppState;

/// Serves until `shutdown` resolves; then stops the triggers (no schedule or flow trigger
/// fires after that), runs `drain` while the API still answers (starts are refused by then,
/// reads work), and only then stops accepting and waits for in-flight requests. Followed
/// streams (SSE) end with the server.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
    drain: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let triggers = crate::triggers::start(state.trigger_context());
    let shutdown = async move {
        shutdown.await;
        triggers.stop().await;
        drain.await;
    };
    axum::serve(listener, router(state)).with_graceful_shutdown(shutdown).await
}
