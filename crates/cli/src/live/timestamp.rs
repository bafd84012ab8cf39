//! Packet times in live mode: the driver's rx timestamp when there is one
//! whose unit is known, else the system clock.
//!
//! DPDK leaves the unit of the rx timestamp dynamic field to the driver:
//! net_pcap stores the pcap record time in microseconds since the epoch,
//! while NIC drivers store raw device clock ticks (mlx5, ice) that are not
//! epoch time at all. So `auto` trusts the field only for net_pcap and uses
//! the clock otherwise; `driver-us` / `driver-ns` assert a unit for drivers
//! known to give epoch time. Packet time drives the assembler's flush and
//! close decisions exactly as in offline mode.

use std::time::{SystemTime, UNIX_EPOCH};

use dpdk::TimestampField;

use super::source::Packet;

/// Where packet times come from (`--timestamps`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampSource {
    /// The driver's field for drivers whose unit is known (net_pcap: µs), else the clock.
    Auto,
    /// The system clock when the packet is polled.
    Clock,
    /// The driver's field, in microseconds since the epoch.
    DriverMicros,
    /// The driver's field, in nanoseconds since the epoch.
    DriverNanos,
}

/// Drivers whose rx timestamp is microseconds since the epoch.
const MICROSECOND_DRIVERS: &[&str] = &["net_pcap"];

/// The time source chosen for a started port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolved {
    /// System clock.
    Clock,
    /// The driver field, multiplied by `ns_per_unit`.
    Driver {
        /// Where the field is.
        field: TimestampField,
        /// Nanoseconds per unit of the field.
        ns_per_unit: u64,
    },
}

/// Chooses the time source for a port whose driver is `driver` and which
/// registered `field` (or not).
pub fn resolve(
    source: TimestampSource,
    driver: &str,
    field: Option<TimestampField>,
) -> Result<Resolved, String> {
    let unit = match source {
        TimestampSource::Clock => return Ok(Resolved::Clock),
        TimestampSource::Auto if MICROSECOND_DRIVERS.contains(&driver) => 1_000,
        TimestampSource::Auto => return Ok(Resolved::Clock),
        TimestampSource::DriverMicros => 1_000,
        TimestampSource::DriverNanos => 1,
    };
    match field {
        Some(field) => Ok(Resolved::Driver {
            field,
            ns_per_unit: unit,
        }),
        None if source == TimestampSource::Auto => Ok(Resolved::Clock),
        None => Err(format!(
            "driver {driver} does not provide rx timestamps; use --timestamps clock"
        )),
    }
}

/// A driver value in nanoseconds (saturating: a nonsense value must not wrap).
pub fn driver_ns(value: u64, ns_per_unit: u64) -> u64 {
    value.saturating_mul(ns_per_unit)
}

/// Hands out packet times for the live source.
///
/// Clock times never go backwards (a wall-clock step back
/// would otherwise look like reordered packets); driver times are used as
/// they are, like capture-file times in offline mode.
#[derive(Debug)]
pub struct Stamper {
    resolved: Resolved,
    last_clock: u64,
}

impl Stamper {
    /// A stamper using `resolved`.
    pub fn new(resolved: Resolved) -> Self {
        Stamper {
            resolved,
            last_clock: 0,
        }
    }

    /// The clock now, in ns since the epoch, never less than before.
    pub fn clock(&mut self) -> u64 {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        self.last_clock = self.last_clock.max(now);
        self.last_clock
    }

    /// Whether times come from the clock (then idle time advances the assembler).
    pub fn uses_clock(&self) -> bool {
        self.resolved == Resolved::Clock
    }

    /// The time of `packet`; `poll_time` is the clock time of its poll, used
    /// when the driver did not stamp it.
    pub fn stamp(&self, packet: &impl Packet, poll_time: u64) -> u64 {
        match self.resolved {
            Resolved::Clock => poll_time,
            Resolved::Driver { field, ns_per_unit } => packet
                .timestamp(field)
                .map_or(poll_time, |v| driver_ns(v, ns_per_unit)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_uses_the_field_only_for_known_drivers() {
        let field = None;
        assert_eq!(
            resolve(TimestampSource::Auto, "net_pcap", field),
            Ok(Resolved::Clock)
        );
        assert_eq!(
            resolve(TimestampSource::Auto, "mlx5_pci", field),
            Ok(Resolved::Clock)
        );
        assert!(resolve(TimestampSource::DriverMicros, "net_tap", field).is_err());
        assert_eq!(
            resolve(TimestampSource::Clock, "net_pcap", field),
            Ok(Resolved::Clock)
        );
        let field = Some(TimestampField::for_tests());
        let micros = Resolved::Driver {
            field: TimestampField::for_tests(),
            ns_per_unit: 1_000,
        };
        assert_eq!(
            resolve(TimestampSource::Auto, "net_pcap", field),
            Ok(micros)
        );
        assert_eq!(
            resolve(TimestampSource::Auto, "mlx5_pci", field),
            Ok(Resolved::Clock)
        );
        assert_eq!(
            resolve(TimestampSource::DriverMicros, "net_x", field),
            Ok(micros)
        );
        assert_eq!(
            resolve(TimestampSource::DriverNanos, "net_x", field),
            Ok(Resolved::Driver {
                field: TimestampField::for_tests(),
                ns_per_unit: 1
            })
        );
        assert_eq!(
            resolve(TimestampSource::Clock, "net_pcap", field),
            Ok(Resolved::Clock)
        );
    }

    #[test]
    fn microseconds_become_nanoseconds_without_wrapping() {
        assert_eq!(
            driver_ns(1_700_000_000_123_456, 1_000),
            1_700_000_000_123_456_000
        );
        assert_eq!(driver_ns(u64::MAX / 10, 1_000), u64::MAX);
        assert_eq!(driver_ns(42, 1), 42);
    }

    #[test]
    fn clock_never_goes_back() {
        let mut s = Stamper::new(Resolved::Clock);
        let a = s.clock();
        let b = s.clock();
        assert!(b >= a && a > 1_600_000_000_000_000_000);
        assert!(s.uses_clock());
    }
}
