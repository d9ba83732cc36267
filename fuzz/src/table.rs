//! The host's `table` module, as far as the fuzz targets reach.

#[path = "../../host/src/table/project.rs"]
pub mod project;
