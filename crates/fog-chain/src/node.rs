//! The running chain: the [`Chain`] behind a lock, the block producer, and
//! the HTTP JSON-RPC server. [`run`] is what `fog chain` calls.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex, MutexGuard},
};

use axum::{
    Router,
    body::Bytes,
    extract::{State, WebSocketUpgrade},
    http::header,
    response::IntoResponse,
    routing::post,
};
use tokio::{
    net::TcpListener,
    sync::{Notify, broadcast},
};
use tower_http::cors::CorsLayer;

use crate::{
    chain::{Chain, ChainConfig, MinedBlock, Mining},
    error::ChainError,
    rpc, ws,
};

/// A chain being served: shared by the RPC handlers and the block producer.
#[derive(Debug)]
pub struct Node {
    chain: Mutex<Chain>,
    chain_id: u64,
    dev: bool,
    wake: Notify,
    mined: broadcast::Sender<Arc<MinedBlock>>,
}

impl Node {
    /// Wraps an open chain. `dev` enables the `evm_*` clock and mining methods.
    pub fn new(chain: Chain, dev: bool) -> Self {
        Self {
            chain_id: chain.chain_id(),
            chain: Mutex::new(chain),
            dev,
            wake: Notify::new(),
            mined: broadcast::channel(1024).0,
        }
    }

    /// Seals a block (see [`Chain::mine`]) and tells subscribers about it.
    pub fn mine(&self, allow_empty: bool) -> Result<Option<Arc<MinedBlock>>, ChainError> {
        let mined = self.lock().mine(allow_empty)?.map(Arc::new);
        if let Some(block) = &mined {
            // No subscriber is not an error.
            let _ = self.mined.send(block.clone());
        }
        Ok(mined)
    }

    /// New blocks as they are sealed (for `eth_subscribe`).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<MinedBlock>> {
        self.mined.subscribe()
    }

    /// The chain, locked. A panic while it was held poisons nothing we
    /// cannot recover: the chain's state on disk is consistent per block.
    pub fn lock(&self) -> MutexGuard<'_, Chain> {
        self.chain
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The chain id.
    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// Whether development methods are on.
    pub fn dev(&self) -> bool {
        self.dev
    }

    /// Tells the automine producer that transactions are waiting.
    pub fn wake_miner(&self) {
        self.wake.notify_one();
    }
}

/// How to serve a chain.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// The chain to open.
    pub chain: ChainConfig,
    /// Where to serve JSON-RPC over HTTP.
    pub http: SocketAddr,
    /// Enable the `evm_*` development methods.
    pub dev: bool,
}

impl NodeConfig {
    /// A development node: the dev genesis, sealed with dev key 0, blocks as
    /// transactions arrive, the `evm_*` methods on, and JSON-RPC on a loopback
    /// port the OS picks (read it from [`RunningNode::http`]).
    #[allow(
        clippy::expect_used,
        reason = "parses a constant key that a unit test checks"
    )]
    pub fn dev(datadir: impl Into<std::path::PathBuf>) -> Self {
        Self {
            chain: ChainConfig {
                datadir: datadir.into(),
                genesis: Some(crate::Genesis::dev()),
                // A constant, valid key: `genesis::tests::dev_keys_belong_to_dev_accounts` checks it.
                authority: crate::genesis::DEV_KEYS[0]
                    .parse()
                    .expect("dev key 0 is a valid private key"),
                mining: Mining::Auto,
            },
            http: SocketAddr::from(([127, 0, 0, 1], 0)),
            dev: true,
        }
    }
}

/// A node started by [`start`]: its address and a handle to stop it.
#[derive(Debug)]
pub struct RunningNode {
    /// The address JSON-RPC listens on.
    pub http: SocketAddr,
    /// The shared node.
    pub node: Arc<Node>,
    shutdown: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<()>,
    producer: tokio::task::JoinHandle<()>,
}

impl RunningNode {
    /// Stops serving and producing blocks, and waits until both have ended.
    pub async fn stop(self) {
        let _ = self.shutdown.send(());
        self.producer.abort();
        let _ = self.server.await;
        let _ = self.producer.await;
    }
}

/// Opens the chain and starts serving it; returns once the port is bound.
pub async fn start(config: NodeConfig) -> Result<RunningNode, ChainError> {
    let mining = config.chain.mining;
    let chain = tokio::task::spawn_blocking(move || Chain::open(config.chain))
        .await
        .map_err(|e| ChainError::Storage(format!("opening the chain: {e}")))??;
    let node = Arc::new(Node::new(chain, config.dev));
    let listener = TcpListener::bind(config.http)
        .await
        .map_err(|source| ChainError::Io {
            what: format!(
                "binding JSON-RPC to {} (is the port taken? choose another with --http)",
                config.http
            ),
            source,
        })?;
    let http = listener.local_addr().map_err(|source| ChainError::Io {
        what: "reading the bound address".into(),
        source,
    })?;
    let app = Router::new()
        .route("/", post(handle_http).get(handle_ws))
        .layer(CorsLayer::permissive())
        .with_state(node.clone());
    let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let serve = axum::serve(listener, app).with_graceful_shutdown(async {
            let _ = stopped.await;
        });
        if let Err(e) = serve.await {
            tracing::error!("JSON-RPC server failed: {e}");
        }
    });
    let producer = tokio::spawn(produce(node.clone(), mining));
    tracing::info!(%http, chain_id = node.chain_id(), "fog chain is serving JSON-RPC");
    Ok(RunningNode {
        http,
        node,
        shutdown,
        server,
        producer,
    })
}

/// Runs a node until Ctrl-C.
pub async fn run(config: NodeConfig) -> Result<(), ChainError> {
    let running = start(config).await?;
    println!("fog chain: JSON-RPC on http://{}", running.http);
    tokio::signal::ctrl_c()
        .await
        .map_err(|source| ChainError::Io {
            what: "waiting for Ctrl-C".into(),
            source,
        })?;
    running.stop().await;
    Ok(())
}

async fn handle_http(State(node): State<Arc<Node>>, body: Bytes) -> impl IntoResponse {
    let answer = tokio::task::spawn_blocking(move || rpc::handle_body(&node, &body))
        .await
        .unwrap_or_else(|e| {
            serde_json::json!({"jsonrpc": "2.0", "id": null,
                "error": {"code": -32603, "message": format!("internal error: {e}")}})
        });
    (
        [(header::CONTENT_TYPE, "application/json")],
        answer.to_string(),
    )
}

async fn handle_ws(State(node): State<Arc<Node>>, upgrade: WebSocketUpgrade) -> impl IntoResponse {
    upgrade.on_upgrade(move |socket| ws::serve(node, socket))
}

/// Produces blocks: on demand under automine, every interval otherwise.
async fn produce(node: Arc<Node>, mining: Mining) {
    let mut interval = match mining {
        Mining::Auto => None,
        Mining::Interval(every) => Some(tokio::time::interval(every)),
    };
    loop {
        match interval.as_mut() {
            Some(tick) => {
                tick.tick().await;
            }
            None => node.wake.notified().await,
        }
        let allow_empty = interval.is_some();
        let n = node.clone();
        let mined = tokio::task::spawn_blocking(move || {
            // Interval: one block per tick, empty or not. Auto: blocks until
            // the pool has nothing ready.
            let mut sealed = 0usize;
            while let Some(_block) = n.mine(allow_empty && sealed == 0)? {
                sealed += 1;
                if allow_empty {
                    break;
                }
            }
            Ok::<_, ChainError>(sealed)
        })
        .await;
        match mined {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!("producing a block failed: {e}"),
            Err(e) => tracing::error!("block producer panicked: {e}"),
        }
    }
}
