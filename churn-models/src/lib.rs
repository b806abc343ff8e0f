//! peerlab-churn: churn, failures, NAT mixes and workloads as reusable,
//! validated models.
//!
//! * [`dist`]: duration distributions in seconds, validated on construction
//!   and embeddable in specs (`{ dist = "weibull", shape = 0.61511, scale_s =
//!   10170.0 }`).
//! * [`process`]: churn models (lifetime, heterogeneous, open population,
//!   trace replay, presets) with mass failures, flash crowds and partitions,
//!   producing a deterministic, time-ordered stream of [`ChurnRecord`]s.
//! * [`diurnal`]: 24-hour rate profiles, sinusoidal or tabulated.
//! * [`phases`]: initialisation, transition and measurement.
//! * [`trace`]: three trace formats, parsed with line-numbered errors.
//! * [`presets`]: `kad`, `p2psim`, `bamboo-extreme`, `skype-supernode`,
//!   `static`, and the Skype call-duration preset, each with its source.
//! * [`nat_mix`]: NAT classes and mixes (blog classes and RFC 4787 classes),
//!   optionally per AS group.
//! * [`workload`]: lookups, registrations and calls merged into the churn
//!   stream.
//! * [`streams`]: common random numbers, one stream per purpose.
//! * [`stats`]: the Kolmogorov–Smirnov test and a Weibull MLE.
//!
//! The crate reads no clock and draws no unseeded randomness; everything is a
//! function of the spec and the run seed. It does not depend on the
//! simulator.

pub mod dist;
pub mod diurnal;
pub mod error;
pub mod event;
pub mod nat_mix;
pub mod phases;
pub mod presets;
pub mod process;
pub mod stats;
pub mod streams;
pub mod trace;
pub mod workload;

pub use dist::{Dist, DistSpec};
pub use diurnal::Diurnal;
pub use error::InvalidParam;
pub use event::{ChurnEvent, ChurnRecord, UpInterval};
pub use nat_mix::{AsGroup, BlogClass, NatClass, NatMix, NatModel, NatPreset};
pub use phases::{Phase, Phases};
pub use presets::ChurnPreset;
pub use process::{ChurnError, ChurnModel, ChurnScenario, ChurnSpec, PartitionSchedule};
pub use trace::{Trace, TraceError, TraceFormat};
pub use workload::{WorkItem, WorkloadDriver, WorkloadEvent, WorkloadSpec};
