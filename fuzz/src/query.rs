//! The host's `query` module, as far as the fuzz targets reach: the
//! statement classifier and the error wording it uses, with DataFusion's
//! parser only (no engine, no arrow kernels).

#[path = "../../host/src/query/message.rs"]
mod message;

#[path = "../../host/src/query/statement.rs"]
pub mod statement;
