//! A delaying TCP proxy on a replication connection.
//!
//! The replica connects to the proxy, the proxy to the primary. Replica -> primary bytes pass
//! straight through; primary -> replica bytes are delivered `lag` after they arrived, in order.
//! The connection stays alive (keepalives are delayed, not dropped), so the lag is real
//! replication lag of any size, sub-second included.

use std::sync::Arc;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use crate::error::TestkitError;
use crate::runtime::runtime;

/// How often a waiting chunk re-reads the lag.
const LAG_RECHECK: Duration = Duration::from_millis(5);

/// A running proxy; stops (and drops its connections) on drop.
#[derive(Debug)]
pub(crate) struct DelayProxy {
    port: u16,
    lag_nanos: Arc<AtomicU64>,
    upstream: Arc<AtomicU16>,
    /// Bumped by [`cut`](DelayProxy::cut): relays of an older generation stop.
    generation: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl DelayProxy {
    /// Listens on a fresh loopback port and forwards to `127.0.0.1:upstream_port`.
    pub(crate) fn start(upstream_port: u16) -> Result<DelayProxy, TestkitError> {
        let (listener, port) = listen()?;
        let rt = runtime()?;
        let lag_nanos = Arc::new(AtomicU64::new(0));
        let upstream = Arc::new(AtomicU16::new(upstream_port));
        let lag = Arc::clone(&lag_nanos);
        let generation = Arc::new(AtomicU64::new(0));
        let task = rt.spawn(accept_loop(
            listener,
            Arc::clone(&upstream),
            lag,
            Arc::clone(&generation),
        ));
        Ok(DelayProxy {
            port,
            lag_nanos,
            upstream,
            generation,
            task,
        })
    }

    /// The port replicas connect to.
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// Sets the delay applied to primary -> replica bytes.
    pub(crate) fn set_lag(&self, lag: Duration) {
        let nanos = u64::try_from(lag.as_nanos()).unwrap_or(u64::MAX);
        self.lag_nanos.store(nanos, Ordering::Relaxed);
    }
}

impl DelayProxy {
    /// Points connections accepted from now on at `127.0.0.1:port` (after a switchover);
    /// connections already relayed keep their upstream until it closes them.
    pub(crate) fn set_upstream(&self, port: u16) {
        self.upstream.store(port, Ordering::Relaxed);
    }

    /// Severs every relayed connection at once, dropping the bytes still held back by the
    /// lag (what a network partition does to data in flight). New connections are relayed.
    pub(crate) fn cut(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }
}

/// A listener on a fresh loopback port, registered with the testkit's runtime, and its port.
pub(crate) fn listen() -> Result<(TcpListener, u16), TestkitError> {
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| TestkitError::io("bind proxy listener", e))?;
    std_listener
        .set_nonblocking(true)
        .map_err(|e| TestkitError::io("proxy listener nonblocking", e))?;
    let port = std_listener
        .local_addr()
        .map_err(|e| TestkitError::io("proxy local_addr", e))?
        .port();
    let _guard = runtime()?.enter();
    let listener = TcpListener::from_std(std_listener)
        .map_err(|e| TestkitError::io("register proxy listener", e))?;
    Ok((listener, port))
}

impl Drop for DelayProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    upstream: Arc<AtomicU16>,
    lag: Arc<AtomicU64>,
    generation: Arc<AtomicU64>,
) {
    // Dropping the JoinSet (when this task is aborted) aborts every connection.
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                if let Ok((down, _)) = accepted {
                    let port = upstream.load(Ordering::Relaxed);
                    let cut = Cut { generation: Arc::clone(&generation), at: generation.load(Ordering::SeqCst) };
                    conns.spawn(relay(down, port, Arc::clone(&lag), cut));
                }
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

/// Whether the relay's proxy was cut since the relay started.
struct Cut {
    generation: Arc<AtomicU64>,
    at: u64,
}

impl Cut {
    fn happened(&self) -> bool {
        self.generation.load(Ordering::SeqCst) != self.at
    }
}

async fn relay(down: TcpStream, upstream_port: u16, lag: Arc<AtomicU64>, cut: Cut) {
    let Ok(up) = TcpStream::connect(("127.0.0.1", upstream_port)).await else {
        return;
    };
    let _ = down.set_nodelay(true);
    let _ = up.set_nodelay(true);
    let (mut down_r, mut down_w) = down.into_split();
    let (mut up_r, mut up_w) = up.into_split();

    let to_primary = async move {
        let _ = tokio::io::copy(&mut down_r, &mut up_w).await;
        let _ = up_w.shutdown().await;
    };
    let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let from_primary = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match up_r.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.send((Instant::now(), buf[..n].to_vec())).is_err() {
                        break;
                    }
                }
            }
        }
    };
    let to_replica = async move {
        while let Some((arrived, data)) = rx.recv().await {
            // Re-read the lag while waiting, so lowering it (e.g. to zero) also releases bytes
            // already queued instead of leaving them behind their old deadline.
            loop {
                if cut.happened() {
                    // Drop what is held back and close: the replica never sees it.
                    rx.close();
                    return;
                }
                let nanos = lag.load(Ordering::Relaxed);
                let due = arrived + Duration::from_nanos(nanos);
                let now = Instant::now();
                if nanos == 0 || due <= now {
                    break;
                }
                tokio::time::sleep_until(due.min(now + LAG_RECHECK)).await;
            }
            if cut.happened() || down_w.write_all(&data).await.is_err() {
                // Replica gone: stop reading from the primary too.
                rx.close();
                return;
            }
        }
        let _ = down_w.shutdown().await;
    };
    tokio::join!(to_primary, from_primary, to_replica);
}
