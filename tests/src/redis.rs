//! Real `redis-server` processes for the cluster-mode tests: a standalone server the test
//! can kill and restart on the same port, and a 3-master Redis Cluster.
//!
//! The binaries come from Debian's `redis-server` and `redis-tools` (`scripts/test.sh`
//! installs them); `REDIS_SERVER_BIN` and `REDIS_CLI_BIN` override the paths.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

use crate::free_port;

fn redis_server_bin() -> String {
    std::env::var("REDIS_SERVER_BIN").unwrap_or_else(|_| "redis-server".into())
}

fn redis_cli_bin() -> String {
    std::env::var("REDIS_CLI_BIN").unwrap_or_else(|_| "redis-cli".into())
}

/// How a server keeps its data across a restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persistence {
    /// Nothing survives a restart.
    None,
    /// An append-only file synced on every write: what was acknowledged survives a kill.
    AppendOnly,
}

/// One `redis-server` on 127.0.0.1, stopped when dropped.
pub struct RedisServer {
    pub port: u16,
    dir: PathBuf,
    args: Vec<String>,
    child: Option<Child>,
}

impl RedisServer {
    pub async fn start(persistence: Persistence) -> Self {
        Self::start_with(persistence, &[]).await
    }

    async fn start_with(persistence: Persistence, extra: &[&str]) -> Self {
        let port = free_port();
        let dir = std::env::temp_dir().join(crate::unique("redis"));
        std::fs::create_dir_all(&dir).expect("creating the Redis data folder");
        let mut args: Vec<String> = vec![
            "--port".into(),
            port.to_string(),
            "--bind".into(),
            "127.0.0.1".into(),
            "--dir".into(),
            dir.display().to_string(),
            "--save".into(),
            String::new(),
        ];
        match persistence {
            Persistence::None => args.extend(["--appendonly".into(), "no".into()]),
            Persistence::AppendOnly => args.extend([
                "--appendonly".into(),
                "yes".into(),
                "--appendfsync".into(),
                "always".into(),
            ]),
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut server = Self {
            port,
            dir,
            args,
            child: None,
        };
        server.spawn().await;
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// SIGKILL, as a crash: no save on the way out.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.expect("killing redis-server");
        }
    }

    /// Starts the server again on the same port, with the same data folder.
    pub async fn restart(&mut self) {
        self.kill().await;
        self.spawn().await;
    }

    /// Runs `redis-cli` against this server and returns its output.
    pub async fn cli(&self, args: &[&str]) -> String {
        cli(self.port, args).await
    }

    async fn spawn(&mut self) {
        let child = Command::new(redis_server_bin())
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("starting redis-server (apt-get install redis-server)");
        self.child = Some(child);
        for _ in 0..200 {
            if cli(self.port, &["PING"]).await.trim() == "PONG" {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("redis-server did not answer on port {}", self.port);
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn cli(port: u16, args: &[&str]) -> String {
    let output = Command::new(redis_cli_bin())
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .output()
        .await
        .expect("running redis-cli (apt-get install redis-tools)");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A Redis Cluster of three masters and no replicas, made with `redis-cli --cluster create`.
pub struct RedisCluster {
    pub nodes: Vec<RedisServer>,
}

impl RedisCluster {
    pub async fn start() -> Self {
        let mut nodes = Vec::new();
        for _ in 0..3 {
            nodes.push(
                RedisServer::start_with(
                    Persistence::None,
                    &["--cluster-enabled", "yes", "--cluster-node-timeout", "2000"],
                )
                .await,
            );
        }
        let mut args = vec!["--cluster".to_string(), "create".to_string()];
        args.extend(nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)));
        args.extend(["--cluster-replicas", "0", "--cluster-yes"].map(String::from));
        let output = Command::new(redis_cli_bin())
            .args(&args)
            .output()
            .await
            .expect("running redis-cli --cluster create");
        assert!(
            output.status.success(),
            "cluster create failed: {}",
            String::from_utf8_lossy(&output.stdout)
        );
        for _ in 0..200 {
            if nodes[0]
                .cli(&["CLUSTER", "INFO"])
                .await
                .contains("cluster_state:ok")
            {
                return Self { nodes };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the Redis Cluster did not reach cluster_state:ok");
    }

    /// `REDIS_URL` for the gateway: every node as a seed.
    pub fn url(&self) -> String {
        self.nodes
            .iter()
            .map(RedisServer::url)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The port of the master that serves `key`'s slot.
    pub async fn node_of(&self, key: &str) -> u16 {
        let slot = self.nodes[0].cli(&["CLUSTER", "KEYSLOT", key]).await;
        let slot: u16 = slot.trim().parse().expect("a slot number");
        let nodes = self.nodes[0].cli(&["CLUSTER", "NODES"]).await;
        for line in nodes.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            for range in &fields[8..] {
                let (start, end) = range.split_once('-').unwrap_or((range, range));
                if let (Ok(start), Ok(end)) = (start.parse::<u16>(), end.parse::<u16>()) {
                    if (start..=end).contains(&slot) {
                        let addr = fields[1].split('@').next().unwrap();
                        return addr.rsplit(':').next().unwrap().parse().unwrap();
                    }
                }
            }
        }
        panic!("no node serves slot {slot}");
    }
}
