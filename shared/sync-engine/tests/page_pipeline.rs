//! The paged walk as a pipeline: the next page's fetch runs beside the current page's writes and checkpoint, and
//! no write of a page starts before the heartbeat of the page before it confirmed the lease. Orders are observed
//! through events (a console that holds one answer, an SDK interceptor), never through wall time.

use test_support::sync as support;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::operation::{
    batch_write_item::BatchWriteItemInput, delete_item::DeleteItemInput, put_item::PutItemInput,
    transact_write_items::TransactWriteItemsInput, update_item::UpdateItemInput,
};
use aws_sdk_dynamodb::types::AttributeValue;
use connector_store::{Lease, RunStatus, Trigger};
use s1_simulator::{Simulator, TenantSpec};
use support::Harness;
use sync_engine::{start_sync, Budget, EngineError, SyncMessage};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// The harness's page size: 250 agents make three agent pages.
const PAGE: usize = 100;

fn spec() -> TenantSpec {
    TenantSpec::small()
        .with_seed(2020)
        .with_agents(250)
        .with_threats(20)
}

// ---------------------------------------------------------------------------------------------------------------
// A console in front of the simulator that holds one answer.

/// How the held request was let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Released {
    /// The first agent page was checkpointed while the second page's request was held.
    ByCheckpoint,
    /// Nobody checkpointed the first page while its successor's fetch was held: the checkpoint waited for it.
    ByTimeout,
}

/// Holds the agent walk's first request with a cursor (the second page) until `open` turns true, or `timeout`.
struct Gate {
    open: watch::Sender<bool>,
    held: AtomicBool,
    released: Mutex<Option<Released>>,
    timeout: Duration,
}

impl Gate {
    fn holds(&self, request_line: &str) -> bool {
        let target = request_line.split(' ').nth(1).unwrap_or_default();
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        path == "/web/api/v2.1/agents"
            && query.split('&').any(|p| p.starts_with("cursor="))
            && !self.held.swap(true, SeqCst)
    }

    async fn wait(&self) {
        let mut rx = self.open.subscribe();
        let released = match tokio::time::timeout(self.timeout, rx.wait_for(|open| *open)).await {
            Ok(Ok(_)) => Released::ByCheckpoint,
            _ => Released::ByTimeout,
        };
        *self.released.lock().expect("gate") = Some(released);
    }
}

/// Serves `listener` as a plain HTTP/1.1 proxy to `upstream`, one request per connection (`Connection: close`), so
/// that every request passes the gate.
async fn proxy(listener: TcpListener, upstream: std::net::SocketAddr, gate: Arc<Gate>) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            return;
        };
        let gate = gate.clone();
        tokio::spawn(async move {
            let _ = forward(client, upstream, &gate).await;
        });
    }
}

async fn forward(
    mut client: TcpStream,
    upstream: std::net::SocketAddr,
    gate: &Gate,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = client.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let content_length = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    while buf.len() < head_end + content_length {
        let n = client.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    if gate.holds(head.lines().next().unwrap_or_default()) {
        gate.wait().await;
    }
    let mut rewritten: String = head
        .split("\r\n")
        .filter(|l| !l.is_empty())
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .map(|l| format!("{l}\r\n"))
        .collect();
    rewritten.push_str("Connection: close\r\n\r\n");
    let mut up = TcpStream::connect(upstream).await?;
    up.write_all(rewritten.as_bytes()).await?;
    up.write_all(&buf[head_end..]).await?;
    tokio::io::copy(&mut up, &mut client).await?;
    client.shutdown().await
}

#[tokio::test]
async fn a_page_is_checkpointed_while_the_next_page_is_still_being_fetched() {
    let sim = Simulator::new(spec())
        .start()
        .await
        .expect("simulator starts");
    let upstream = sim.local_addr();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let console = format!("http://{}", listener.local_addr().expect("addr"));
    let gate = Arc::new(Gate {
        open: watch::channel(false).0,
        held: AtomicBool::new(false),
        released: Mutex::new(None),
        // Long enough for a loaded machine to apply and checkpoint one page; the walk before the pipeline only
        // checkpointed page 1 after page 2 had arrived, so it always ran into this.
        timeout: Duration::from_secs(15),
    });
    tokio::spawn(proxy(listener, upstream, gate.clone()));
    let h = Harness::on_simulator(sim, "tenant-a", |c| c.console_url = console).await;

    // Opens the gate once the store holds the checkpoint of the first agent page.
    let watcher = async {
        // Bounded, so a run that never reaches the gate still ends the test (with the assertions below failing).
        for _ in 0..6_000 {
            let state = h.store.load_sync_state(&h.tenant).await.expect("state");
            if state
                .checkpoint
                .is_some_and(|cp| cp.phase == "agents" && cp.page_no >= 1)
            {
                gate.open.send_replace(true);
                return;
            }
            if gate.released.lock().expect("gate").is_some() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    let (drained, ()) = tokio::join!(h.sync(), watcher);

    assert!(
        gate.held.load(SeqCst),
        "the second agent page was never requested"
    );
    assert_eq!(
        *gate.released.lock().expect("gate"),
        Some(Released::ByCheckpoint),
        "page 1's checkpoint waited for page 2's fetch"
    );
    assert_eq!(
        drained.run.status,
        RunStatus::Succeeded,
        "{:?}",
        drained.run
    );
    assert!(
        drained.run.counters.items_fetched >= 250,
        "{:?}",
        drained.run.counters
    );
}

// ---------------------------------------------------------------------------------------------------------------
// The lease lost at a page's heartbeat.

/// Takes the tenant's lease from `owner` while the engine sends the heartbeat of the first agent page's checkpoint
/// (the engine's thread waits while the test takes it), and from then on counts every write the engine sends
/// other than lease writes.
#[derive(Debug)]
struct LoseLeaseAtFirstPage {
    stolen: Arc<AtomicBool>,
    steal: tokio::sync::mpsc::UnboundedSender<()>,
    done: Arc<Mutex<mpsc::Receiver<()>>>,
    writes_after: Arc<AtomicU64>,
    ops_after: Arc<Mutex<Vec<String>>>,
}

fn is_first_page_heartbeat(input: &UpdateItemInput) -> bool {
    let Some(AttributeValue::M(cp)) = input
        .expression_attribute_values()
        .and_then(|v| v.get(":c"))
    else {
        return false;
    };
    matches!(cp.get("phase"), Some(AttributeValue::S(p)) if p == "agents")
        && matches!(cp.get("page_no"), Some(AttributeValue::N(n)) if n == "1")
}

impl Intercept for LoseLeaseAtFirstPage {
    fn name(&self) -> &'static str {
        "loses the lease at the first page's heartbeat"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let input = context.input();
        let update = input.downcast_ref::<UpdateItemInput>();
        if self.stolen.load(SeqCst) {
            let lease_write =
                update.is_some_and(|u| u.update_expression().is_some_and(|e| e.contains("lease_")));
            let op = if update.is_some() {
                Some("UpdateItem")
            } else if input.downcast_ref::<PutItemInput>().is_some() {
                Some("PutItem")
            } else if input.downcast_ref::<DeleteItemInput>().is_some() {
                Some("DeleteItem")
            } else if input.downcast_ref::<BatchWriteItemInput>().is_some() {
                Some("BatchWriteItem")
            } else if input.downcast_ref::<TransactWriteItemsInput>().is_some() {
                Some("TransactWriteItems")
            } else {
                None
            };
            if let Some(op) = op.filter(|_| !lease_write) {
                self.writes_after.fetch_add(1, SeqCst);
                self.ops_after.lock().expect("ops").push(op.to_string());
            }
            return Ok(());
        }
        if update.is_some_and(is_first_page_heartbeat) {
            // The test takes the lease on another task; this heartbeat goes out only once it has.
            self.steal
                .send(())
                .map_err(|_| "the test stopped listening")?;
            self.done
                .lock()
                .expect("done")
                .recv_timeout(Duration::from_secs(30))
                .map_err(|_| "the lease was not taken in time")?;
            self.stolen.store(true, SeqCst);
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_lease_stops_the_walk_before_any_write_of_the_next_page() {
    let h = Harness::new(spec()).await;
    let (steal_tx, mut steal_rx) = tokio::sync::mpsc::unbounded_channel();
    let (done_tx, done_rx) = mpsc::channel();
    let stolen = Arc::new(AtomicBool::new(false));
    let writes_after = Arc::new(AtomicU64::new(0));
    let ops_after = Arc::new(Mutex::new(Vec::new()));
    let interceptor = LoseLeaseAtFirstPage {
        stolen: stolen.clone(),
        steal: steal_tx,
        done: Arc::new(Mutex::new(done_rx)),
        writes_after: writes_after.clone(),
        ops_after: ops_after.clone(),
    };
    let engine = h.engine_with(interceptor);
    let run = start_sync(&h.store, &h.queue, &h.tenant, Trigger::OnDemand)
        .await
        .expect("sync starts");
    let message = SyncMessage::first(h.tenant.as_str(), &run.id);

    // Another worker takes the lease (the first holder released it, as an expired lease is taken over). On its
    // own task, so it runs on a runtime worker while the engine (on the test's thread) waits in the interceptor.
    let (store, tenant) = (h.store.clone(), h.tenant.clone());
    let thief = tokio::spawn(async move {
        steal_rx.recv().await.expect("the heartbeat of page 1");
        store
            .release_lease(
                &tenant,
                &Lease {
                    owner: "worker-1".into(),
                    expires_at_ms: 0,
                },
            )
            .await
            .expect("release");
        store
            .try_acquire_lease(&tenant, "worker-2", Duration::from_secs(120))
            .await
            .expect("acquire")
            .expect("the lease is free");
        done_tx.send(()).expect("the engine waits");
    });
    let outcome = engine.run(&message, Budget::unlimited(), "worker-1").await;
    thief.await.expect("the thief ran");

    assert!(stolen.load(SeqCst), "the lease was never taken");
    assert!(
        matches!(outcome, Err(EngineError::LeaseLost)),
        "the run must stop on the lost lease: {outcome:?}"
    );
    assert_eq!(
        writes_after.load(SeqCst),
        0,
        "writes sent after the lease was lost: {:?}",
        ops_after.lock().expect("ops")
    );
    let assets = h.assets().await;
    assert!(
        assets.len() <= PAGE,
        "only the first page's agents may be stored, found {} assets",
        assets.len()
    );
    assert!(
        !assets.is_empty(),
        "the first page was written before the lease was lost"
    );
    // The new holder's lease stands.
    assert!(h
        .store
        .try_acquire_lease(&h.tenant, "worker-3", Duration::from_secs(1))
        .await
        .expect("lease read")
        .is_none());
}
