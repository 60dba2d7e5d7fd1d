//! A real `redis-server` for the scale-out tests: started on a free loopback
//! port in a temporary directory, persistence on or off, killed on drop.
//! Install it with `scripts/ensure-tools.sh redis`.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    persist: bool,
    dir: tempfile::TempDir,
}

/// A loopback port free right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl RedisServer {
    /// Starts a server; with `persist`, an append-only file fsynced on every
    /// write (so a killed server loses nothing).
    pub async fn start(persist: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut server = RedisServer {
            child: None,
            port: free_port(),
            persist,
            dir,
        };
        server.spawn().await;
        server
    }

    async fn spawn(&mut self) {
        let appendonly = if self.persist { "yes" } else { "no" };
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .arg("--dir")
            .arg(self.dir.path())
            .args(["--save", "", "--appendonly", appendonly])
            .args(["--appendfsync", "always", "--protected-mode", "yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is needed: run scripts/ensure-tools.sh redis");
        self.child = Some(child);
        for _ in 0..200 {
            if let Ok(client) = redis::Client::open(self.url())
                && let Ok(mut conn) = client.get_multiplexed_async_connection().await
                && redis::cmd("PING")
                    .query_async::<String>(&mut conn)
                    .await
                    .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("redis-server did not start on port {}", self.port);
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills the server (as a crash would) and starts it again on the same
    /// port and directory.
    pub async fn restart(&mut self) {
        self.kill();
        self.spawn().await;
    }

    /// Kills the server and leaves it down (an outage).
    pub fn stop(&mut self) {
        self.kill();
    }

    /// Starts a stopped server again on the same port and directory.
    pub async fn start_again(&mut self) {
        assert!(self.child.is_none(), "already running");
        self.spawn().await;
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
