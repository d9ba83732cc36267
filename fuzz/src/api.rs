//! The host's `api` module, as far as the fuzz targets reach.

#[path = "../../host/src/api/ndjson.rs"]
pub mod ndjson;
