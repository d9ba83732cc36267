//! Starting and stopping the broker: the listener, tansu's request pipeline
//! per Kafka connection, the periodic maintenance pass, and a stop that
//! lets SQLite finish the commit in progress.
//!
//! tansu's own `Broker::main` is not used: it installs SIGINT/SIGTERM
//! handlers, binds its own socket (so port 0 cannot be reported back) and
//! has no way to stop it from outside. This loop does what its `listen` does
//! with a listener and a shutdown token owned here.

use std::fs::{File, TryLockError};
use std::future::Future;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rama::{Context, Service as _};
use tansu_broker::coordinator::group::administrator::Controller;
use tansu_broker::service::services;
use tansu_storage::{Storage as _, StorageContainer};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{self, Instant, MissedTickBehavior};
use tokio_util::sync::{CancellationToken, DropGuard};
use tracing::{Instrument as _, debug, info, info_span, warn};
use url::Url;

use super::config::BrokerConfig;
use super::error::BrokerError;
use super::limit::RecordLimit;
use super::storage::{self, TopicState};

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

/// How long a stop waits for the storage task to finish the requests it has.
const STORAGE_DRAIN: Duration = Duration::from_secs(5);

/// A broker serving on [`local_addr`](Self::local_addr). Dropping it stops the
/// broker in the background; [`shutdown`](Self::shutdown) stops it and waits.
#[derive(Debug)]
pub struct RunningBroker {
    local_addr: SocketAddr,
    db_path: PathBuf,
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

    /// The SQLite database holding the topics and committed offsets.
    pub fn db_path(&self) -> &Path {
        &self.db_path
    }

    /// Stops accepting, drops the open connections, lets the storage task
    /// finish the request it is serving, and waits for the broker to end.
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

/// Binds the listener, opens (or creates) the SQLite storage, creates the
/// configured topics that are missing, and starts serving. Returns once
/// clients can connect.
pub async fn start(config: BrokerConfig) -> Result<RunningBroker, BrokerError> {
    for topic in &config.topics {
        topic.validate()?;
    }
    let data_dir = prepare_data_dir(&config.data_dir)?;
    let data_dir_lock = lock_data_dir(&data_dir).await?;
    let db_path = BrokerConfig::db_path_in(&data_dir);

    // Bind before opening the storage: a second broker on the same port is
    // refused before it touches a database another broker may be using.
    let listener = bind(config.listen).await?;
    let local_addr = listener
        .local_addr()
        .map_err(|source| BrokerError::Listen {
            addr: config.listen,
            source,
        })?;
    let advertised = advertised_url(config.advertised.as_deref(), local_addr)?;

    let storage_stop = CancellationToken::new();
    let storage = storage::open(
        &db_path,
        &config.cluster_id,
        NODE_ID,
        &advertised,
        storage_stop.clone(),
    )
    .await?;
    for topic in &config.topics {
        if storage::ensure_topic(&storage, topic, &db_path).await? == TopicState::Existing {
            debug!(topic = %topic.name, partitions = topic.partitions, "Topic exists.");
        }
    }
    let groups = Controller::with_storage(storage.clone())
        .map_err(|source| BrokerError::Services { source })?;
    // Built once here so a broken route table fails `start`, not each connection.
    services(&config.cluster_id, groups.clone(), storage.clone(), None)
        .map_err(|source| BrokerError::Services { source })?;

    info!(
        listen = %local_addr,
        advertised = %advertised,
        data_dir = %data_dir.display(),
        "Broker listening."
    );
    let stop = CancellationToken::new();
    let accept_loop = AcceptLoop {
        listener,
        storage,
        groups,
        cluster_id: config.cluster_id,
        maintenance_interval: config.maintenance_interval,
        stop: stop.clone(),
        storage_stop,
        db_path: db_path.clone(),
        data_dir_lock,
    };
    let task = tokio::spawn(
        accept_loop
            .run()
            .instrument(info_span!("broker", listen = %local_addr)),
    );
    Ok(RunningBroker {
        local_addr,
        db_path,
        _stop_on_drop: stop.clone().drop_guard(),
        stop,
        task,
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

/// Waits until SQLite has deleted the database's `-wal` file, which it does
/// when the last connection closes, after checkpointing. tansu's storage task
/// ends asynchronously once its last handle is dropped, and this is the sign
/// visible from here that it has let go of the file: a restart in this
/// process then finds the database unlocked (and tansu logs no errors).
async fn wait_for_sqlite_close(db_path: &Path) {
    let mut wal = db_path.as_os_str().to_owned();
    wal.push("-wal");
    let wal = PathBuf::from(wal);
    let started = Instant::now();
    while wal.exists() {
        if started.elapsed() > STORAGE_DRAIN {
            warn!(
                wal = %wal.display(),
                "Broker database still open after stopping; is another program reading it?"
            );
            return;
        }
        time::sleep(Duration::from_millis(10)).await;
    }
    debug!(waited = ?started.elapsed(), "Broker database closed.");
}

/// Takes the data directory's lock file, so two brokers (in two processes,
/// or one process) never share one SQLite database. The OS drops the lock
/// when the process dies, even by `kill -9`. A broker of this process that
/// was dropped rather than shut down releases it a moment later, hence a
/// short wait.
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

/// The listener URL tansu puts in metadata responses. An unspecified bound
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
struct AcceptLoop {
    listener: TcpListener,
    storage: StorageContainer,
    groups: Controller<StorageContainer>,
    cluster_id: String,
    maintenance_interval: Duration,
    stop: CancellationToken,
    storage_stop: CancellationToken,
    db_path: PathBuf,
    /// Released when this loop ends, after the storage has been told to stop.
    data_dir_lock: File,
}

impl AcceptLoop {
    async fn run(self) {
        let mut tasks = JoinSet::new();
        let mut maintenance = time::interval_at(
            Instant::now() + self.maintenance_interval,
            self.maintenance_interval,
        );
        maintenance.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = self.stop.cancelled() => break,
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, peer)) => self.spawn_connection(&mut tasks, stream, peer),
                    Err(error) => {
                        warn!(%error, "Broker cannot accept a connection; retrying.");
                        time::sleep(ACCEPT_BACKOFF).await;
                    }
                },
                _ = maintenance.tick() => {
                    let storage = self.storage.clone();
                    tasks.spawn(async move {
                        if let Err(error) = storage.maintain(std::time::SystemTime::now()).await {
                            warn!(%error, "Broker maintenance failed.");
                        }
                    });
                }
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            }
        }
        drop(self.listener);
        // A request cut off here was either committed by the storage task
        // (which finishes it before it looks at `storage_stop`) or never
        // reached it; an idempotent producer resends either way.
        tasks.shutdown().await;
        // The storage task serves one request at a time in order, so once a
        // ping comes back every request sent before it is committed.
        match time::timeout(STORAGE_DRAIN, self.storage.ping()).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => warn!(%error, "Broker storage did not answer while stopping."),
            Err(_) => warn!(timeout = ?STORAGE_DRAIN, "Broker storage still busy while stopping."),
        }
        self.storage_stop.cancel();
        drop(self.storage);
        drop(self.groups);
        wait_for_sqlite_close(&self.db_path).await;
        drop(self.data_dir_lock);
        info!("Broker stopped.");
    }

    fn spawn_connection(&self, tasks: &mut JoinSet<()>, stream: TcpStream, peer: SocketAddr) {
        if let Err(error) = stream.set_nodelay(true) {
            debug!(%peer, %error, "Cannot set TCP_NODELAY.");
        }
        let service = match services(
            &self.cluster_id,
            self.groups.clone(),
            RecordLimit::new(self.storage.clone()),
            None,
        ) {
            Ok(service) => service,
            Err(error) => {
                warn!(%peer, %error, "Broker cannot serve a connection.");
                return;
            }
        };
        debug!(%peer, "Kafka client connected.");
        tasks.spawn(async move {
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
