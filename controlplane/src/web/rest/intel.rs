//! Routes of intel.

use super::Route;

pub fn routes() -> Vec<Route> {
    vec![]
}
