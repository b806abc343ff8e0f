//! Registration in the simulator: the bridge from `peerlab-churn`'s
//! [`RegistrationWorkload`] (refresh every `t`, expire after `e`, in float
//! seconds, as a churn spec writes them) to the core's
//! [`RegistrarConfig`] (whole seconds, because the DHT's TTL is whole seconds).
//!
//! The workload generator ([`peerlab_churn::WorkloadDriver`]) says *when* a
//! device registers or refreshes and when a crashed device's binding expires;
//! the core's [`peerlab_core::registration::Registrar`] says *what* goes into
//! the DHT. `sim/tests/registration.rs` drives both over Kademlia and Chord
//! and checks every read against the simulator's global view.

use crate::config::{InvalidConfig, invalid};
use peerlab_churn::workload::RegistrationWorkload;
use peerlab_core::HashAlg;
use peerlab_core::registration::RegistrarConfig;

/// The registrar settings for a registration workload, hashing AoRs with
/// `hash` (the DHT's). Both intervals must be whole seconds in
/// `1..=u32::MAX`, because the DHT stores lifetimes in whole seconds; the
/// error names the field by its spec path (`workload.registration.*`).
pub fn registrar_config(
    w: &RegistrationWorkload,
    hash: HashAlg,
) -> Result<RegistrarConfig, InvalidConfig> {
    let whole = |path: &str, v: f64| -> Result<u32, InvalidConfig> {
        if v.is_finite() && v >= 1.0 && v <= f64::from(u32::MAX) && v.fract() == 0.0 {
            Ok(v as u32)
        } else {
            Err(invalid(
                path,
                v,
                "a whole number of seconds, at least 1 (the DHT's TTL is in whole seconds)",
            ))
        }
    };
    let cfg = RegistrarConfig {
        refresh_s: whole("workload.registration.refresh_s", w.refresh_s)?,
        expires_s: whole("workload.registration.expires_s", w.expires_s)?,
        hash,
    };
    cfg.validate().map_err(|e| {
        invalid(
            &format!("workload.registration.{}", e.field),
            e.value,
            e.expected,
        )
    })?;
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_seconds_pass_and_the_error_names_the_field() {
        let w = |refresh_s, expires_s| RegistrationWorkload {
            refresh_s,
            expires_s,
        };
        let c = registrar_config(&w(300.0, 600.0), HashAlg::Sha1).unwrap();
        assert_eq!((c.refresh_s, c.expires_s), (300, 600));
        let e = registrar_config(&w(300.5, 600.0), HashAlg::Sha1).unwrap_err();
        assert_eq!(e.path, "workload.registration.refresh_s");
        let e = registrar_config(&w(300.0, f64::NAN), HashAlg::Sha1).unwrap_err();
        assert_eq!(e.path, "workload.registration.expires_s");
        let e = registrar_config(&w(700.0, 600.0), HashAlg::Sha1).unwrap_err();
        assert_eq!(e.path, "workload.registration.refresh_s");
    }
}
