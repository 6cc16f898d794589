//! A relay that counts round trips: what a client waits for, not how long.
//!
//! Put it between a client and a server (connect to [`RoundTrips::port`] instead of the
//! server's port). Every chunk the server sends is held back [`HOLD`] before the client gets
//! it, so statements a client pipelines — sent before it waits for any answer — always leave
//! before the first answer arrives. A *round trip* is a flight of client bytes that starts
//! after the client was last handed server bytes (or the first flight on a connection):
//! sequential statements count one each, pipelined ones one together. Counted over every
//! connection through the relay; measure around an operation on warm connections.
//!
//! It also counts the connections clients open through it, and can play an unreachable
//! server ([`RoundTrips::set_down`]): relayed connections are cut, new ones closed at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use crate::error::TestkitError;
use crate::proxy::listen;
use crate::runtime::runtime;

/// How long each server chunk is held before the client gets it: far longer than a client
/// takes between two statements it pipelines, even on a loaded machine.
pub const HOLD: Duration = Duration::from_millis(15);

/// A running counting relay to one server; stops (and drops its connections) on drop.
#[derive(Debug)]
pub struct RoundTrips {
    port: u16,
    count: Arc<AtomicU64>,
    connections: Arc<AtomicU64>,
    down: Arc<watch::Sender<bool>>,
    task: JoinHandle<()>,
}

impl RoundTrips {
    /// Relays a fresh loopback port to `127.0.0.1:upstream_port`.
    ///
    /// # Errors
    /// When no port can be bound or the testkit's runtime cannot start.
    pub fn start(upstream_port: u16) -> Result<Self, TestkitError> {
        let (listener, port) = listen()?;
        let count = Arc::new(AtomicU64::new(0));
        let connections = Arc::new(AtomicU64::new(0));
        let down = Arc::new(watch::Sender::new(false));
        let relay = Relay {
            upstream: upstream_port,
            count: Arc::clone(&count),
            connections: Arc::clone(&connections),
            down: Arc::clone(&down),
        };
        let task = runtime()?.spawn(accept(listener, relay));
        Ok(Self {
            port,
            count,
            connections,
            down,
            task,
        })
    }

    /// Relays the server of `url` (`scheme://user@127.0.0.1:PORT/db`).
    ///
    /// # Errors
    /// When `url` names no port, or as [`start`](Self::start).
    pub fn in_front_of(url: &str) -> Result<Self, TestkitError> {
        let port = port_of(url).ok_or_else(|| {
            TestkitError::InvalidState(format!("no 127.0.0.1 port in the url {url}"))
        })?;
        Self::start(port)
    }

    /// `url` with its port replaced by the relay's.
    #[must_use]
    pub fn url(&self, url: &str) -> String {
        match port_of(url) {
            Some(p) => url.replacen(&format!(":{p}"), &format!(":{}", self.port), 1),
            None => url.to_owned(),
        }
    }

    /// The relay's port.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Round trips so far, over every connection.
    #[must_use]
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::SeqCst)
    }

    /// Connections clients opened through the relay so far (while it is down too).
    #[must_use]
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::SeqCst)
    }

    /// Down: every relayed connection is cut, and each new one closed as soon as it is
    /// accepted (counted), as an unreachable server would. Up again: relayed as before.
    pub fn set_down(&self, down: bool) {
        self.down.send_replace(down);
    }
}

impl Drop for RoundTrips {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The port after `127.0.0.1:` in `url`.
fn port_of(url: &str) -> Option<u16> {
    let rest = url.split("127.0.0.1:").nth(1)?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// What every relayed connection shares.
#[derive(Clone)]
struct Relay {
    upstream: u16,
    count: Arc<AtomicU64>,
    connections: Arc<AtomicU64>,
    down: Arc<watch::Sender<bool>>,
}

async fn accept(listener: TcpListener, relay: Relay) {
    // Dropping the JoinSet (when this task is aborted) drops every connection.
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                if let Ok((client, _)) = accepted {
                    relay.connections.fetch_add(1, Ordering::SeqCst);
                    if !*relay.down.borrow() {
                        let relay = relay.clone();
                        conns.spawn(async move {
                            let mut down = relay.down.subscribe();
                            tokio::select! {
                                () = forward(client, relay.upstream, relay.count) => {}
                                _ = down.wait_for(|d| *d) => {}
                            }
                        });
                    }
                }
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

async fn forward(down: TcpStream, upstream: u16, count: Arc<AtomicU64>) {
    let Ok(up) = TcpStream::connect(("127.0.0.1", upstream)).await else {
        return;
    };
    let _ = down.set_nodelay(true);
    let _ = up.set_nodelay(true);
    let (mut down_r, mut down_w) = down.into_split();
    let (mut up_r, mut up_w) = up.into_split();
    // Whether the client was handed server bytes since its last flight began.
    let answered = Arc::new(AtomicBool::new(true));
    let heard = Arc::clone(&answered);
    let to_server = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match down_r.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if heard.swap(false, Ordering::SeqCst) {
                        count.fetch_add(1, Ordering::SeqCst);
                    }
                    if up_w.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            }
        }
        let _ = up_w.shutdown().await;
    };
    let to_client = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match up_r.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    tokio::time::sleep(HOLD).await;
                    // Before the client can see the answer, so its reply is always counted.
                    answered.store(true, Ordering::SeqCst);
                    if down_w.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            }
        }
        let _ = down_w.shutdown().await;
    };
    tokio::join!(to_server, to_client);
}

#[cfg(test)]
mod tests {
    use super::port_of;

    #[test]
    fn the_port_is_read_from_the_url() {
        assert_eq!(
            port_of("postgres://postgres@127.0.0.1:5433/postgres"),
            Some(5433)
        );
        assert_eq!(port_of("mysql://root@127.0.0.1:3307/test"), Some(3307));
        assert_eq!(port_of("postgres://localhost/x"), None);
    }
}
