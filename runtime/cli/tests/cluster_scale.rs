//! Issue 17's cluster test: 3 servers (two `--api-only`, one that runs what it starts) and 2
//! workers on one PostgreSQL database run 300 executions while one worker is killed
//! (`kill -9`) mid-task and the other loses its database connection for 20 s (its connections
//! go through a TCP proxy this test cuts: established ones are closed and new ones refused).
//! Every execution ends SUCCESS, no task success is recorded twice, the cut attempts are
//! recorded as interrupted, and the worker that was cut off comes back writing nothing over
//! the new owners' work.

#![allow(clippy::unwrap_used)]

#[path = "../../store-postgres/tests/common/cluster.rs"]
mod cluster;
mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::naps::{naps, succeeded_once};
use common::server::Server;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

/// A TCP proxy to PostgreSQL that can be cut, as a network between a machine and its database.
struct CutProxy {
    port: u16,
    cut: Arc<AtomicBool>,
    /// The connections it carries; aborted when cut.
    links: Arc<tokio::sync::Mutex<JoinSet<()>>>,
}

impl CutProxy {
    async fn start(target: u16) -> CutProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(AtomicBool::new(false));
        let links = Arc::new(tokio::sync::Mutex::new(JoinSet::new()));
        let (is_cut, carried) = (cut.clone(), links.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else { return };
                if is_cut.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                carried.lock().await.spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(("127.0.0.1", target)).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        CutProxy { port, cut, links }
    }

    /// Closes every connection and refuses new ones until [`CutProxy::restore`].
    async fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        self.links.lock().await.abort_all();
    }

    fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

fn with_port(url: &str, port: u16) -> String {
    let (before, after) = url.rsplit_once(':').unwrap();
    let database = after.split_once('/').unwrap().1;
    format!("{before}:{port}/{database}")
}

fn ran_in(dir: &Path, id: &str) -> bool {
    dir.join("workspaces").join(id).is_dir()
}

/// The node's `sluice_leases_held`.
async fn leases_held(node: &Server) -> u64 {
    let text = node.http.get(node.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let line = text.lines().find(|l| l.starts_with("sluice_leases_held ")).unwrap();
    line["sluice_leases_held ".len()..].parse().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn three_hundred_executions_survive_a_killed_worker_and_one_cut_off_from_the_database() {
    let url = tokio::task::spawn_blocking(|| cluster::cluster().create_database()).await.unwrap();
    let proxy = CutProxy::start(cluster::cluster().port()).await;
    let proxied = with_port(&url, proxy.port);
    let dirs: Vec<tempfile::TempDir> = (0..5).map(|_| tempfile::tempdir().unwrap()).collect();
    let capacity = ["--max-executions", "100"];
    let servers = [
        Server::start_with(dirs[0].path(), &["--database", &url, "--api-only"], &[]),
        Server::start_with(dirs[1].path(), &["--database", &url, "--api-only"], &[]),
        Server::start_with(dirs[2].path(), &["--database", &url, capacity[0], capacity[1]], &[]),
    ];
    let killed = Server::start_worker(dirs[3].path(), &["--database", &url, capacity[0], capacity[1]]);
    let cut_off = Server::start_worker(dirs[4].path(), &["--database", &proxied, capacity[0], capacity[1]]);
    let wasm = std::fs::read(test_programs_artifacts::TEST_PROGRAMS).unwrap();
    let (status, doc) =
        servers[0].send(servers[0].http.post(servers[0].url("/api/v1/plugins")).body(wasm)).await;
    assert_eq!(status, 201, "{doc}");
    assert_eq!(servers[1].post("/api/v1/flows", &naps(4000)).await.0, 201);

    let mut ids = Vec::new();
    for n in 0..300 {
        let (status, doc) = servers[n % 3].post("/api/v1/executions/cluster/naps", "{}").await;
        assert_eq!(status, 202, "{doc}");
        ids.push(doc["executionId"].as_str().unwrap().to_owned());
    }
    // The running server drives what it started (and claims more when it has room); each
    // worker claims up to 100 of those handed over. Both workers are busy before the losses.
    for tries in 0.. {
        let held = (leases_held(&killed).await, leases_held(&cut_off).await);
        if held.0 >= 20 && held.1 >= 20 {
            break;
        }
        assert!(tries < 600, "the workers did not get their share: {held:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let at_the_loss = chrono::Utc::now();
    killed.kill_hard();
    proxy.cut().await;
    tokio::time::sleep(Duration::from_secs(20)).await;
    proxy.restore();
    for id in &ids {
        servers[n_of(id, &ids) % 3].wait_for_state(id, "SUCCESS").await;
    }
    let store = sluice_store_postgres::PostgresStore::connect(&url).await.unwrap();
    let (mut cut_by_the_kill, mut cut_by_the_network, mut interrupted) = (0, 0, 0);
    for id in &ids {
        let nap = succeeded_once(&store, id).await;
        let (_, cut) = nap.split_last().unwrap();
        interrupted += cut.len();
        // Napping on the lost node at the loss, with more than a moment to go.
        let napping = nap[0].started_at < at_the_loss
            && nap[0].started_at + chrono::Duration::milliseconds(3800) > at_the_loss;
        if napping && ran_in(dirs[3].path(), id) {
            assert!(!cut.is_empty(), "{id} was napping on the killed worker: {nap:?}");
            cut_by_the_kill += 1;
        }
        if napping && ran_in(dirs[4].path(), id) && !cut.is_empty() {
            cut_by_the_network += 1;
        }
    }
    store.close().await;
    assert!(cut_by_the_kill > 0, "no execution was napping on the worker when it was killed");
    assert!(cut_by_the_network > 0, "no execution was cut on the worker that lost the database");
    eprintln!(
        "{interrupted} cut attempts recorded and run again ({cut_by_the_kill} by the kill, \
         {cut_by_the_network} by the network cut)"
    );
    // Its commits, waiting for the database (backing off up to 5 s), are refused once it is
    // back, and its keeper finds the leases lost: it drives nothing now.
    for tries in 0.. {
        let held = leases_held(&cut_off).await;
        if held == 0 {
            break;
        }
        assert!(tries < 300, "the worker that was cut off still drives {held} executions");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(cut_off.terminate(), 0);
    for server in servers {
        assert_eq!(server.terminate(), 0);
    }
}

/// The position of `id` among the started executions (which server started it).
fn n_of(id: &str, ids: &[String]) -> usize {
    ids.iter().position(|i| i == id).unwrap()
}
