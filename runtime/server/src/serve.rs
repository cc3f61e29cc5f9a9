//! Serving the router on a listener until asked to stop.

use std::future::Future;

use axum::Router;
use tokio::net::TcpListener;

use crate::routes::{router, worker_router};
use crate::state::AppState;
use crate::triggers::TriggerRuntime;

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
    serve_until(listener, router(state), triggers, shutdown, drain).await
}

/// [`serve`] for a worker (`sluice worker`): health and metrics only, and of the triggers only
/// the flow triggers (the executions it drives end here); schedules and webhooks are the
/// servers'.
pub async fn serve_worker(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
    drain: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let triggers = crate::triggers::start_flow_triggers(state.trigger_context());
    serve_until(listener, worker_router(state), triggers, shutdown, drain).await
}

async fn serve_until(
    listener: TcpListener,
    router: Router,
    triggers: TriggerRuntime,
    shutdown: impl Future<Output = ()> + Send + 'static,
    drain: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let shutdown = async move {
        shutdown.await;
        triggers.stop().await;
        drain.await;
    };
    // The peer's address goes into the audit log.
    let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, service).with_graceful_shutdown(shutdown).await
}
