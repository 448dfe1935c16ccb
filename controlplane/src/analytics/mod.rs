//! Analytics over the workers' flow features: the online flow anomaly model and its
//! evaluation.
//!
//! - [`features`]: a flow's feature vector (names, order, refusal of values that are not
//!   finite).
//! - [`normalise`]: log scaling and robust ranges.
//! - [`hst`]: Half-Space Trees, the streaming anomaly detector.
//! - [`model`]: the flow anomaly model (normalisation, warm-up, online learning,
//!   explanation, training-set summary).
//! - [`scorer`]: scoring on its own thread behind a bounded queue, dropped scores counted.
//! - [`eval`]: ROC AUC, precision at the top 1%, detection per family.

pub mod eval;
pub mod features;
pub mod hst;
pub mod model;
pub mod normalise;
pub mod scorer;

pub use features::{FlowSample, NotFinite};
pub use hst::Params;
pub use model::{AnomalyModel, Score};
pub use scorer::Scorer;
