//! One connection to the cluster's Redis (or Valkey) primary, made on demand
//! and dropped after any error so the next use connects afresh — to whichever
//! server is the primary by then, when Sentinel is in use: every new
//! connection asks the sentinels again, and the client checks with `ROLE`
//! that the server it names is a primary. (When Sentinel demotes a primary it
//! also closes that server's client connections, so none stays on it.)

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::sentinel::{SentinelClient, SentinelNodeConnectionInfo, SentinelServerType};
use redis::{AsyncConnectionConfig, Client, Cmd, FromRedisValue, IntoConnectionInfo, RedisConnectionInfo, RedisResult, ScriptInvocation};

use crate::config::cluster::{ClusterConfig, Engine};

/// Connecting must not hang a task that has other duties (renewing a lease).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

pub struct Link {
    engine: Engine,
    /// Read from `password_file` once; never logged.
    password: Option<String>,
    response_timeout: Duration,
    conn: Option<MultiplexedConnection>,
}

impl Link {
    /// `response_timeout` bounds every command; a link used for `XREAD BLOCK`
    /// needs one longer than the block.
    pub fn new(config: &ClusterConfig, response_timeout: Duration) -> Link {
        let password = config
            .password_file
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty());
        Link { engine: config.engine.clone(), password, response_timeout, conn: None }
    }

    /// The connection, connected if it was not. Asking Sentinel where the
    /// primary is and connecting to it are bounded together: a sentinel or a
    /// server that does not answer (a partition) must not hang the caller.
    pub async fn conn(&mut self) -> RedisResult<&mut MultiplexedConnection> {
        if self.conn.is_none() {
            let conn = tokio::time::timeout(CONNECT_TIMEOUT * 2, self.connect())
                .await
                .map_err(|_| redis::RedisError::from((redis::ErrorKind::Io, "connect timed out")))??;
            self.conn = Some(conn);
        }
        Ok(self.conn.as_mut().expect("just connected"))
    }

    async fn connect(&self) -> RedisResult<MultiplexedConnection> {
        let client = self.client().await?;
        let options = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(self.response_timeout));
        client.get_multiplexed_async_connection_with_config(&options).await
    }

    /// Forgets the connection after an error: the next use reconnects.
    pub fn broken(&mut self) {
        self.conn = None;
    }

    /// Sends one command; any error drops the connection.
    pub async fn query<T: FromRedisValue>(&mut self, cmd: &Cmd) -> RedisResult<T> {
        let result = match self.conn().await {
            Ok(conn) => cmd.query_async(conn).await,
            Err(e) => Err(e),
        };
        if result.is_err() {
            self.broken();
        }
        result
    }

    /// Runs a script (EVALSHA, loading it on NOSCRIPT); any error drops the connection.
    pub async fn invoke<T: FromRedisValue>(&mut self, script: &ScriptInvocation<'_>) -> RedisResult<T> {
        let result = match self.conn().await {
            Ok(conn) => script.invoke_async(conn).await,
            Err(e) => Err(e),
        };
        if result.is_err() {
            self.broken();
        }
        result
    }

    fn settings(&self) -> RedisConnectionInfo {
        let settings = RedisConnectionInfo::default();
        match &self.password {
            Some(p) => settings.set_password(p),
            None => settings,
        }
    }

    async fn client(&self) -> RedisResult<Client> {
        match &self.engine {
            Engine::Url(url) => {
                let mut info = url.as_str().into_connection_info()?;
                if let Some(p) = &self.password {
                    let settings = info.redis_settings().clone().set_password(p);
                    info = info.set_redis_settings(settings);
                }
                Client::open(info)
            }
            Engine::Sentinel { sentinels, master_name } => {
                let nodes: Vec<String> = sentinels.iter().map(|s| format!("redis://{s}")).collect();
                let node_info = SentinelNodeConnectionInfo::default().set_redis_connection_info(self.settings());
                let mut sentinel = SentinelClient::build(nodes, master_name.clone(), Some(node_info), SentinelServerType::Master)?;
                sentinel.async_get_client().await
            }
        }
    }
}
