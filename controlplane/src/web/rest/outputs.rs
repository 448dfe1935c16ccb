//! Routes of outputs.

use super::Route;

pub fn routes() -> Vec<Route> {
    vec![]
}
