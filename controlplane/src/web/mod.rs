//! The console: embedded pages and the network map's data.

pub mod network;
pub mod pages;
