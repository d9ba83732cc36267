//! The host's `table` module, as far as the fuzz targets reach.

#[path = "../../host/src/table/arrow_schema.rs"]
mod arrow_schema;
#[path = "../../host/src/table/columns.rs"]
mod columns;
#[path = "../../host/src/table/project.rs"]
pub mod project;
#[path = "../../host/src/table/scan.rs"]
mod scan;

pub use arrow_schema::table_schema;
