//! The Kafka APIs the embedded broker answers, and who answers each: tansu's
//! request handlers over the storage engine for most, sluice's own
//! [`FetchService`], and the group coordinator for the six group requests.
//! `ApiVersions` lists exactly these, so clients know what is missing.
//!
//! Left out on purpose: the transaction APIs (AddPartitionsToTxn,
//! AddOffsetsToTxn, TxnOffsetCommit) and SCRAM credential management, which
//! the engine does not support. tansu's own `services()` registers them, so
//! this is that function with the list chosen here.

use rama::layer::{MapErrLayer, MapStateLayer};
use rama::{Layer as _, Service as _};
use tansu_broker::Error;
use tansu_broker::coordinator::group::Coordinator;
use tansu_broker::service::{auth, coordinator, storage as storage_routes};
use tansu_sans_io::{ApiKey as _, FetchRequest};
use tansu_service::{
    BytesFrameLayer, BytesFrameService, FrameRequestLayer, FrameRouteBuilder, FrameRouteService,
    TcpBytesLayer, TcpBytesService, TcpContext, TcpContextLayer, TcpContextService,
};
use tansu_storage::Storage;

use super::fetch::{FetchService, FetchSource};

/// What serves one Kafka connection.
pub type KafkaService =
    TcpContextService<TcpBytesService<BytesFrameService<FrameRouteService<(), Error>>, ()>>;

/// Every request handler, over `storage` (produce, metadata, offsets,
/// topics, groups as stored), `fetch` and `groups`.
pub fn kafka_service<S, F, C>(
    cluster_id: &str,
    storage: S,
    fetch: F,
    groups: C,
) -> Result<KafkaService, Error>
where
    S: Storage,
    F: FetchSource,
    C: Coordinator,
{
    let builder = storage_services(FrameRouteService::<(), Error>::builder(), storage)?;
    let builder = builder.with_route(
        FetchRequest::KEY,
        (
            MapErrLayer::new(Error::from),
            MapStateLayer::new(move |_| fetch),
            FrameRequestLayer::<FetchRequest>::new(),
        )
            .into_layer(FetchService)
            .boxed(),
    )?;
    let builder = coordinator::services(builder, groups)?;
    let builder = auth::services(builder)?;
    let route = builder.build()?;
    Ok((
        TcpContextLayer::new(TcpContext::default().cluster_id(Some(cluster_id.into()))),
        TcpBytesLayer::default(),
        BytesFrameLayer::default().with_sasl_config(None),
    )
        .into_layer(route))
}

/// tansu's handlers over the storage engine: all but Fetch (sluice's own),
/// the transaction APIs and SCRAM credentials.
fn storage_services<S: Storage>(
    builder: FrameRouteBuilder<(), Error>,
    storage: S,
) -> Result<FrameRouteBuilder<(), Error>, Error> {
    [
        storage_routes::consumer_group_describe::<S>,
        storage_routes::create_acls::<S>,
        storage_routes::create_topics::<S>,
        storage_routes::delete_groups::<S>,
        storage_routes::delete_records::<S>,
        storage_routes::delete_topics::<S>,
        storage_routes::describe_acls::<S>,
        storage_routes::describe_cluster::<S>,
        storage_routes::describe_configs::<S>,
        storage_routes::describe_groups::<S>,
        storage_routes::describe_topic_partitions::<S>,
        storage_routes::find_coordinator::<S>,
        storage_routes::get_telemetry_subscriptions::<S>,
        storage_routes::incremental_alter_configs::<S>,
        storage_routes::init_producer_id::<S>,
        storage_routes::list_groups::<S>,
        storage_routes::list_offsets::<S>,
        storage_routes::list_partition_reassignments::<S>,
        storage_routes::metadata::<S>,
        storage_routes::produce::<S>,
    ]
    .iter()
    .try_fold(builder, |builder, route| route(builder, storage.clone()))
}
