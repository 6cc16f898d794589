//! A Redis Cluster on loopback: N masters with M replicas each, made by `redis-cli --cluster
//! create`, with the operations a store must survive: moving slots between masters while
//! clients run, and a master failing over to its replica.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio::process::Command;

use crate::error::TestkitError;
use crate::host::find_binary;
use crate::redis::RedisServer;
use crate::runtime::on_testkit_rt;

/// How long cluster formation, a reshard or a failover may take.
const CLUSTER_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one `redis-cli` call may take.
const CLI_TIMEOUT: Duration = Duration::from_secs(30);
/// The cluster's failure detection time (a dead master is replaced after about this).
const NODE_TIMEOUT_MS: u64 = 1000;

/// One node as `CLUSTER NODES` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterNode {
    /// The node id.
    pub id: String,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Whether it is a master (else a replica).
    pub master: bool,
    /// For a replica: the id of its master.
    pub master_id: Option<String>,
    /// Number of hash slots it serves (masters).
    pub slots: usize,
}

/// A Redis Cluster of real `redis-server` processes (no persistence), each on a free
/// loopback port. Dropping it kills every node and removes their directories.
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
    cli: PathBuf,
    started_in: Duration,
}

impl RedisCluster {
    /// Starts `masters` masters with `replicas` replicas each and waits until every node
    /// reports `cluster_state:ok` with all 16384 slots assigned.
    pub async fn start(masters: usize, replicas: usize) -> Result<RedisCluster, TestkitError> {
        on_testkit_rt(Self::start_inner(masters, replicas)).await
    }

    async fn start_inner(masters: usize, replicas: usize) -> Result<RedisCluster, TestkitError> {
        if masters < 3 {
            return Err(TestkitError::InvalidState(format!(
                "a Redis Cluster needs at least 3 masters, not {masters}"
            )));
        }
        let t0 = Instant::now();
        let cli = find_binary("redis-cli", &[], "redis-tools")?;
        let args = vec![
            "--cluster-enabled".to_owned(),
            "yes".to_owned(),
            "--cluster-config-file".to_owned(),
            "nodes.conf".to_owned(),
            "--cluster-node-timeout".to_owned(),
            NODE_TIMEOUT_MS.to_string(),
        ];
        let mut nodes = Vec::new();
        for _ in 0..masters * (1 + replicas) {
            nodes.push(RedisServer::start_with(args.clone()).await?);
        }
        let mut cluster = RedisCluster {
            nodes,
            cli,
            started_in: Duration::ZERO,
        };
        let mut create = vec!["--cluster".to_owned(), "create".to_owned()];
        create.extend(
            cluster
                .nodes
                .iter()
                .map(|n| format!("127.0.0.1:{}", n.port())),
        );
        create.extend([
            "--cluster-replicas".to_owned(),
            replicas.to_string(),
            "--cluster-yes".to_owned(),
        ]);
        cluster.cli(&create).await?;
        cluster.wait_ok(CLUSTER_TIMEOUT).await?;
        cluster.started_in = t0.elapsed();
        tracing::info!(
            masters,
            replicas,
            ms = cluster.started_in.as_millis(),
            "redis cluster started"
        );
        Ok(cluster)
    }

    /// `redis://127.0.0.1:PORT` of every node (a client needs one; more survive a dead one).
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }

    /// How long `start` took.
    pub fn started_in(&self) -> Duration {
        self.started_in
    }

    /// Every node, as the cluster sees it now (asked of the first node that answers).
    pub async fn nodes(&self) -> Result<Vec<ClusterNode>, TestkitError> {
        let mut last = None;
        for n in &self.nodes {
            match self.cli_at(n.port(), &["cluster", "nodes"]).await {
                Ok(out) => return Ok(parse_nodes(&out)),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| TestkitError::InvalidState("no nodes".into())))
    }

    /// The ports of the masters serving hash slots now (a replica still announced as a
    /// slot-less master while the cluster forms is not one of them).
    pub async fn master_ports(&self) -> Result<Vec<u16>, TestkitError> {
        Ok(self
            .nodes()
            .await?
            .into_iter()
            .filter(|n| n.master && n.slots > 0)
            .map(|n| n.port)
            .collect())
    }

    /// Moves `slots` hash slots, with their keys, from the master on `from` to the master on
    /// `to` (`redis-cli --cluster reshard`; clients meanwhile get `ASK` / `MOVED`).
    pub async fn move_slots(&self, from: u16, to: u16, slots: usize) -> Result<(), TestkitError> {
        let nodes = self.nodes().await?;
        let id = |port: u16| {
            nodes
                .iter()
                .find(|n| n.port == port && n.master)
                .map(|n| n.id.clone())
                .ok_or_else(|| TestkitError::InvalidState(format!("no master on port {port}")))
        };
        let (from_id, to_id) = (id(from)?, id(to)?);
        self.cli(&[
            "--cluster".to_owned(),
            "reshard".to_owned(),
            format!("127.0.0.1:{from}"),
            "--cluster-from".to_owned(),
            from_id,
            "--cluster-to".to_owned(),
            to_id,
            "--cluster-slots".to_owned(),
            slots.to_string(),
            "--cluster-yes".to_owned(),
        ])
        .await?;
        self.wait_ok(CLUSTER_TIMEOUT).await
    }

    /// Fails the master on `master` over to one of its replicas with a coordinated `CLUSTER
    /// FAILOVER` (the replica catches up first: no acknowledged write is lost) and waits until
    /// the replica serves as master. Returns the new master's port.
    pub async fn failover(&self, master: u16) -> Result<u16, TestkitError> {
        let nodes = self.nodes().await?;
        let master_id = nodes
            .iter()
            .find(|n| n.port == master && n.master)
            .map(|n| n.id.clone())
            .ok_or_else(|| TestkitError::InvalidState(format!("no master on port {master}")))?;
        let replica = nodes
            .iter()
            .find(|n| n.master_id.as_deref() == Some(master_id.as_str()))
            .map(|n| n.port)
            .ok_or_else(|| {
                TestkitError::InvalidState(format!("master on port {master} has no replica"))
            })?;
        self.cli_at(replica, &["cluster", "failover"]).await?;
        let deadline = Instant::now() + CLUSTER_TIMEOUT;
        loop {
            let promoted = self.nodes().await.is_ok_and(|ns| {
                ns.iter()
                    .any(|n| n.port == replica && n.master && n.slots > 0)
            });
            if promoted {
                break;
            }
            if Instant::now() > deadline {
                return Err(self.timeout(replica, "the replica to take over as master"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.wait_ok(CLUSTER_TIMEOUT).await?;
        Ok(replica)
    }

    /// Waits until every node says `cluster_state:ok` with all slots assigned and none in
    /// a failed state.
    pub async fn wait_ok(&self, timeout: Duration) -> Result<(), TestkitError> {
        let deadline = Instant::now() + timeout;
        for n in &self.nodes {
            loop {
                let ok = self
                    .cli_at(n.port(), &["cluster", "info"])
                    .await
                    .is_ok_and(|info| {
                        info.contains("cluster_state:ok") && info.contains("cluster_slots_ok:16384")
                    });
                if ok {
                    break;
                }
                if Instant::now() > deadline {
                    return Err(self.timeout(n.port(), "cluster_state:ok"));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Ok(())
    }

    fn timeout(&self, port: u16, what: &str) -> TestkitError {
        let log = self
            .nodes
            .iter()
            .find(|n| n.port() == port)
            .map(|n| n.dir().join("redis.log"))
            .unwrap_or_default();
        TestkitError::Timeout {
            what: what.to_owned(),
            port,
            timeout: CLUSTER_TIMEOUT,
            log,
            detail: String::new(),
        }
    }

    /// Runs `redis-cli` against the first node.
    async fn cli(&self, args: &[String]) -> Result<String, TestkitError> {
        let port = self.nodes.first().map_or(0, RedisServer::port);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.cli_at(port, &args).await
    }

    /// Runs `redis-cli -p port args…` (bounded) and returns its standard output.
    async fn cli_at(&self, port: u16, args: &[&str]) -> Result<String, TestkitError> {
        let mut cmd = Command::new(&self.cli);
        cmd.args(["-h", "127.0.0.1", "-p", &port.to_string()])
            .args(args)
            .env_clear()
            .kill_on_drop(true)
            .stdin(std::process::Stdio::null());
        let what = format!("redis-cli {}", args.join(" "));
        let out = tokio::time::timeout(CLI_TIMEOUT, cmd.output())
            .await
            .map_err(|_| self.timeout(port, &what))?
            .map_err(|e| TestkitError::io(what.clone(), e))?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        // redis-cli exits 0 on a server error reply; those start with `ERR` or `[ERR]`.
        if !out.status.success() || stdout.starts_with("ERR") || stdout.contains("[ERR]") {
            return Err(TestkitError::CommandFailed {
                what,
                status: out.status.to_string(),
                log: PathBuf::new(),
                tail: format!("{stdout}{}", String::from_utf8_lossy(&out.stderr)),
            });
        }
        Ok(stdout)
    }
}

/// Parses `CLUSTER NODES`: `id host:port@bus flags master-id ping pong epoch state slots…`.
fn parse_nodes(text: &str) -> Vec<ClusterNode> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (id, addr, flags, master_id) = (f.first()?, f.get(1)?, f.get(2)?, f.get(3)?);
            let port = addr
                .split(['@', ','])
                .next()?
                .rsplit(':')
                .next()?
                .parse()
                .ok()?;
            let slots = f
                .iter()
                .skip(8)
                .filter(|s| !s.starts_with('['))
                .map(|s| match s.split_once('-') {
                    Some((a, b)) => match (a.parse::<usize>(), b.parse::<usize>()) {
                        (Ok(a), Ok(b)) if b >= a => b - a + 1,
                        _ => 0,
                    },
                    None => 1,
                })
                .sum();
            Some(ClusterNode {
                id: (*id).to_owned(),
                port,
                master: flags.split(',').any(|f| f == "master"),
                master_id: (*master_id != "-").then(|| (*master_id).to_owned()),
                slots,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::parse_nodes;

    #[test]
    fn parses_cluster_nodes() {
        let text = "a1 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460 6000\n\
                    b2 127.0.0.1:7001@17001 slave a1 0 1 1 connected\n\
                    c3 127.0.0.1:7002@17002 master,fail - 0 1 2 disconnected [93->-b2]\n";
        let nodes = parse_nodes(text);
        assert_eq!(nodes.len(), 3);
        assert_eq!(
            (nodes[0].port, nodes[0].master, nodes[0].slots),
            (7000, true, 5462)
        );
        assert_eq!(nodes[1].master_id.as_deref(), Some("a1"));
        assert!(!nodes[1].master);
        assert_eq!(nodes[2].slots, 0);
    }
}
