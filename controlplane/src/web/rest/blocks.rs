//! Routes of blocks.

use super::Route;

pub fn routes() -> Vec<Route> {
    vec![]
}
