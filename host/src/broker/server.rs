//! Starting and stopping the broker: the data directory and its lock, the
//! log and metadata opened (and recovered), the configured topics, the
//! listener and one task per Kafka connection, and the background work:
//! the group coordinator's timers, retention, and the interval fsync.
//!
//! tansu's own `Broker::main` is not used: it installs signal handlers,
//! binds its own socket (so port 0 cannot be reported back) and cannot be
//! stopped from outside. A stop here closes the log cleanly, so the next
//! start trusts its indexes instead of checking every batch.

use std::fs::{File, TryLockError};
use std::future::Future;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rama::{Context, Service as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{self, Instant, MissedTickBehavior};
use tokio_util::sync::{CancellationToken, DropGuard};
use tracing::{Instrument as _, debug, info, info_span, warn};
use url::Url;

use super::config::{BrokerConfig, LEGACY_DB_FILE, StorageEngine, TopicSpec};
use super::coordinator::GroupCoordinator;
use super::engine::Engine;
use super::error::BrokerError;
use super::log::{FlushPolicy, Log, TopicError};
use super::meta::Metadata;
use super::routes::{KafkaService, kafka_service};

/// The broker's node id in the metadata it serves; a single embedded broker
/// leads every partition.
const NODE_ID: i32 = tansu_broker::NODE_ID;

/// How long to wait before accepting again after `accept` fails, so running
/// out of file descriptors does not spin a core.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The lock file that keeps a second broker off the same data directory.
const LOCK_FILE: &str = "broker.lock";

/// How long `start` waits for another broker to release the data directory.
const LOCK_PATIENCE: Duration = Duration::from_secs(2);

/// A broker serving on [`local_addr`](Self::local_addr). Dropping it stops the
/// broker in the background; [`shutdown`](Self::shutdown) stops it and waits.
#[derive(Debug)]
pub struct RunningBroker {
    local_addr: SocketAddr,
    log_dir: PathBuf,
    stop: CancellationToken,
    task: JoinHandle<()>,
    _stop_on_drop: DropGuard,
}

impl RunningBroker {
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The `bootstrap.servers` value for a Kafka client on this machine.
    pub fn bootstrap_servers(&self) -> String {
        self.local_addr.to_string()
    }

    /// The folder of the segment files.
    pub fn log_dir(&self) -> &Path {
        &self.log_dir
    }

    /// Stops accepting, drops the open connections, closes the log cleanly
    /// and waits for the broker to end.
    pub async fn shutdown(self) -> Result<(), BrokerError> {
        self.stop.cancel();
        let addr = self.local_addr;
        self.task
            .await
            .map_err(|source| BrokerError::Task { addr, source })
    }
}

/// Runs the broker until `shutdown` completes (or the broker task fails).
pub async fn run(
    config: BrokerConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), BrokerError> {
    let mut broker = start(config).await?;
    tokio::select! {
        () = shutdown => broker.shutdown().await,
        ended = &mut broker.task => {
            let addr = broker.local_addr;
            ended.map_err(|source| BrokerError::Task { addr, source })
        }
    }
}

/// Opens (or creates) the log and metadata in the data directory,
/// recovering from a crash if need be, creates the configured topics that
/// are missing, binds the listener and starts serving. Returns once clients
/// can connect.
pub async fn start(config: BrokerConfig) -> Result<RunningBroker, BrokerError> {
    for topic in &config.topics {
        topic.validate(&config.log)?;
    }
    let data_dir = prepare_data_dir(&config.data_dir)?;
    let legacy = data_dir.join(LEGACY_DB_FILE);
    if legacy.exists() {
        return Err(BrokerError::LegacyData {
            path: legacy,
            data_dir,
        });
    }
    let data_dir_lock = lock_data_dir(&data_dir).await?;

    // Bind before opening the log: a second broker on the same port is
    // refused before it reads anything.
    let listener = bind(config.listen).await?;
    let local_addr = listener
        .local_addr()
        .map_err(|source| BrokerError::Listen {
            addr: config.listen,
            source,
        })?;
    let advertised = advertised_url(config.advertised.as_deref(), local_addr)?;

    let log_dir = BrokerConfig::log_dir_in(&data_dir);
    let (service, groups, log) = match config.engine {
        StorageEngine::Log => {
            let (log, meta) = open_log(&config, &data_dir, local_addr).await?;
            let groups = GroupCoordinator::new(meta)?;
            let engine = Engine::new(
                log.clone(),
                groups.clone(),
                &config.cluster_id,
                NODE_ID,
                advertised.clone(),
            );
            let service = kafka_service(&config.cluster_id, engine, log.clone(), groups.clone())
                .map_err(|source| BrokerError::Services { source })?;
            (service, groups, Some(log))
        }
        StorageEngine::TansuMemory => {
            let (service, groups) = ceiling(&config, &data_dir, &advertised).await?;
            (service, groups, None)
        }
    };

    info!(
        listen = %local_addr,
        advertised = %advertised,
        log = %log_dir.display(),
        flush = %config.log.flush,
        engine = ?config.engine,
        "Broker listening."
    );
    let stop = CancellationToken::new();
    let serving = Serving {
        listener,
        service,
        log,
        groups,
        maintenance_interval: config.maintenance_interval,
        stop: stop.clone(),
        data_dir_lock,
    };
    let task = tokio::spawn(
        serving
            .run()
            .instrument(info_span!("broker", listen = %local_addr)),
    );
    Ok(RunningBroker {
        local_addr,
        log_dir,
        _stop_on_drop: stop.clone().drop_guard(),
        stop,
        task,
    })
}

/// Opens the metadata store and the log (recovering what a crash left) and
/// makes sure the configured topics exist.
async fn open_log(
    config: &BrokerConfig,
    data_dir: &Path,
    local_addr: SocketAddr,
) -> Result<(Arc<Log>, Arc<Metadata>), BrokerError> {
    let log_dir = BrokerConfig::log_dir_in(data_dir);
    let meta_path = BrokerConfig::meta_path_in(data_dir);
    let settings = config.log;
    let (log, meta) = tokio::task::spawn_blocking(move || -> Result<_, BrokerError> {
        let started = std::time::Instant::now();
        let meta = Arc::new(Metadata::open(&meta_path)?);
        let log = Arc::new(Log::open(&log_dir, meta.clone(), settings)?);
        debug!(took = ?started.elapsed(), "Log opened.");
        Ok((log, meta))
    })
    .await
    .map_err(|source| BrokerError::Task {
        addr: local_addr,
        source,
    })??;
    for topic in &config.topics {
        ensure_topic(&log, topic).await?;
    }
    Ok((log, meta))
}

#[cfg(feature = "bench-ceiling")]
async fn ceiling(
    config: &BrokerConfig,
    data_dir: &Path,
    advertised: &Url,
) -> Result<(KafkaService, GroupCoordinator), BrokerError> {
    super::ceiling::open(config, data_dir, advertised, NODE_ID).await
}

#[cfg(not(feature = "bench-ceiling"))]
async fn ceiling(
    _config: &BrokerConfig,
    _data_dir: &Path,
    _advertised: &Url,
) -> Result<(KafkaService, GroupCoordinator), BrokerError> {
    Err(BrokerError::EngineNotBuilt)
}

/// Creates the topic if it is missing. An existing topic must have the
/// configured partition count: the broker cannot change it, and silently
/// running with another count would surprise consumers that split partitions.
async fn ensure_topic(log: &Arc<Log>, spec: &TopicSpec) -> Result<(), BrokerError> {
    if let Some(existing) = log.topic(&spec.name) {
        let existing = existing.partitions().len() as i32;
        if existing != spec.partitions {
            return Err(BrokerError::PartitionsMismatch {
                topic: spec.name.clone(),
                existing,
                configured: spec.partitions,
                path: log.root().to_owned(),
            });
        }
        debug!(topic = %spec.name, partitions = existing, "Topic exists.");
        return Ok(());
    }
    let log = log.clone();
    let topic = spec.clone();
    let created = tokio::task::spawn_blocking(move || {
        log.create_topic(&topic.name, topic.partitions, topic.configs.clone(), false)
    })
    .await
    .map_err(|e| BrokerError::CreateTopic {
        topic: spec.name.clone(),
        partitions: spec.partitions,
        source: Box::new(TopicError::Invalid {
            name: spec.name.clone(),
            reason: e.to_string(),
        }),
    })?;
    created
        .map(|_| ())
        .map_err(|source| BrokerError::CreateTopic {
            topic: spec.name.clone(),
            partitions: spec.partitions,
            source: Box::new(source),
        })
}

/// Creates the data directory and makes its path absolute, so the broker
/// keeps using the same files if the process changes directory later.
fn prepare_data_dir(data_dir: &Path) -> Result<PathBuf, BrokerError> {
    let create_error = |source| BrokerError::CreateDataDir {
        path: data_dir.to_owned(),
        source,
    };
    std::fs::create_dir_all(data_dir).map_err(create_error)?;
    data_dir.canonicalize().map_err(create_error)
}

/// Takes the data directory's lock file, so two brokers (in two processes,
/// or one process) never share one log. The OS drops the lock when the
/// process dies, even by `kill -9`. A broker of this process that was
/// dropped rather than shut down releases it a moment later, hence a short
/// wait.
async fn lock_data_dir(data_dir: &Path) -> Result<File, BrokerError> {
    let lock = data_dir.join(LOCK_FILE);
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock)
        .map_err(|source| BrokerError::LockDataDir {
            lock: lock.clone(),
            source,
        })?;
    let started = Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(TryLockError::WouldBlock) if started.elapsed() < LOCK_PATIENCE => {
                time::sleep(Duration::from_millis(50)).await;
            }
            Err(TryLockError::WouldBlock) => {
                return Err(BrokerError::DataDirInUse {
                    path: data_dir.to_owned(),
                    lock,
                });
            }
            Err(TryLockError::Error(source)) => {
                return Err(BrokerError::LockDataDir { lock, source });
            }
        }
    }
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, BrokerError> {
    TcpListener::bind(addr).await.map_err(|source| {
        if source.kind() == ErrorKind::AddrInUse {
            BrokerError::AddressInUse { addr }
        } else {
            BrokerError::Listen { addr, source }
        }
    })
}

/// The listener URL put in metadata responses. An unspecified bound
/// address (`0.0.0.0`) is advertised as loopback unless told otherwise,
/// since clients cannot connect to `0.0.0.0`.
fn advertised_url(advertised: Option<&str>, bound: SocketAddr) -> Result<Url, BrokerError> {
    let host_port = match advertised {
        Some(host_port) => host_port.to_owned(),
        None if bound.ip().is_unspecified() => {
            let loopback = SocketAddr::new(
                if bound.is_ipv4() {
                    std::net::Ipv4Addr::LOCALHOST.into()
                } else {
                    std::net::Ipv6Addr::LOCALHOST.into()
                },
                bound.port(),
            );
            warn!(
                listen = %bound,
                advertised = %loopback,
                "Broker listens on all interfaces but advertises loopback; set the advertised listener for remote clients."
            );
            loopback.to_string()
        }
        None => bound.to_string(),
    };
    let invalid = |reason: String| BrokerError::InvalidAdvertised {
        advertised: host_port.clone(),
        reason,
    };
    let url =
        Url::parse(&format!("tcp://{host_port}")).map_err(|error| invalid(error.to_string()))?;
    if url.host_str().is_none_or(str::is_empty) || url.port().is_none() || url.path() != "" {
        return Err(invalid("it needs exactly a host and a port".to_owned()));
    }
    Ok(url)
}

/// Everything the serving task owns.
struct Serving {
    listener: TcpListener,
    service: KafkaService,
    /// None for the in-memory ceiling, which has nothing to maintain.
    log: Option<Arc<Log>>,
    groups: GroupCoordinator,
    maintenance_interval: Duration,
    stop: CancellationToken,
    /// Released when serving ends, after the log is closed.
    data_dir_lock: File,
}

impl Serving {
    async fn run(self) {
        let mut connections = JoinSet::new();
        let background = CancellationToken::new();
        let mut workers = JoinSet::new();
        workers.spawn(self.groups.clone().run_timers(background.clone()));
        if let Some(log) = &self.log {
            workers.spawn(maintain(
                log.clone(),
                self.maintenance_interval,
                background.clone(),
            ));
            if let FlushPolicy::Interval(every) = log.settings().flush {
                workers.spawn(flush_every(log.clone(), every, background.clone()));
            }
        }
        loop {
            tokio::select! {
                () = self.stop.cancelled() => break,
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, peer)) => self.spawn_connection(&mut connections, stream, peer),
                    Err(error) => {
                        warn!(%error, "Broker cannot accept a connection; retrying.");
                        time::sleep(ACCEPT_BACKOFF).await;
                    }
                },
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
        drop(self.listener);
        // A produce cut off here was either appended (and a retry finds it,
        // idempotent) or never reached the log.
        connections.shutdown().await;
        background.cancel();
        while workers.join_next().await.is_some() {}
        if let Some(log) = self.log.clone() {
            let closed = tokio::task::spawn_blocking(move || log.close()).await;
            let error = match closed {
                Ok(Ok(())) => None,
                Ok(Err(error)) => Some(error.to_string()),
                Err(error) => Some(error.to_string()),
            };
            if let Some(error) = error {
                warn!(%error, "The log did not close cleanly; the next start checks it.");
            }
        }
        drop(self.data_dir_lock);
        info!("Broker stopped.");
    }

    fn spawn_connection(&self, connections: &mut JoinSet<()>, stream: TcpStream, peer: SocketAddr) {
        if let Err(error) = stream.set_nodelay(true) {
            debug!(%peer, %error, "Cannot set TCP_NODELAY.");
        }
        let service = self.service.clone();
        debug!(%peer, "Kafka client connected.");
        connections.spawn(async move {
            match service.serve(Context::default(), stream).await {
                Ok(_) => debug!(%peer, "Kafka client disconnected."),
                Err(tansu_broker::Error::Io(error))
                    if matches!(
                        error.kind(),
                        ErrorKind::UnexpectedEof
                            | ErrorKind::BrokenPipe
                            | ErrorKind::ConnectionReset
                    ) =>
                {
                    debug!(%peer, "Kafka client disconnected.");
                }
                Err(error) => warn!(%peer, %error, "Kafka connection failed."),
            }
        });
    }
}

/// Retention and producer expiry, every `interval`.
async fn maintain(log: Arc<Log>, interval: Duration, stop: CancellationToken) {
    let mut ticks = time::interval_at(Instant::now() + interval, interval);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let log = log.clone();
        if let Err(error) = tokio::task::spawn_blocking(move || log.maintain()).await {
            warn!(%error, "Broker maintenance failed.");
        }
    }
}

/// The interval fsync policy: every partition written to is synced this often.
async fn flush_every(log: Arc<Log>, every: Duration, stop: CancellationToken) {
    let mut ticks = time::interval_at(Instant::now() + every, every);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let log = log.clone();
        if let Err(error) = tokio::task::spawn_blocking(move || log.sync_dirty()).await {
            warn!(%error, "Broker flush failed.");
        }
    }
}
