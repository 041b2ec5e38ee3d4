//! Calendar-aligned SLO periods: a month, week or quarter in a time zone,
//! whose error budget resets at each boundary (pure: no clock, no I/O).
//!
//! A month starts on the 1st at 00:00 local time, a week on Monday at 00:00,
//! a quarter on January, April, July or October 1st at 00:00. Boundaries are
//! computed in civil time and then placed in the zone, so a period that
//! holds a daylight saving change is an hour shorter or longer than its
//! days suggest; where midnight does not exist in the zone (a gap), the
//! period starts at the first instant after the gap.
//!
//! Everything that scales with the period's length (the burn-rate alert
//! windows, the period rule group's interval) uses the unit's nominal length
//! ([`Unit::nominal`]: 30d, 7d, 91d) instead.

use std::time::Duration;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

/// The length of a calendar period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Week,
    Month,
    Quarter,
}

impl Unit {
    /// The name a spec writes (`week`, `month`, `quarter`).
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Week => "week",
            Unit::Month => "month",
            Unit::Quarter => "quarter",
        }
    }

    /// The nominal length: 7d, 30d (a month) and 91d (a quarter). Alert
    /// windows and rule intervals are scaled to it, so a calendar month
    /// alerts as a rolling 30d period does.
    pub fn nominal(self) -> Duration {
        let days = match self {
            Unit::Week => 7,
            Unit::Month => 30,
            Unit::Quarter => 91,
        };
        Duration::from_secs(days * 86_400)
    }

    /// The first day of the period holding `d`.
    pub fn first_day(self, d: Date) -> Date {
        match self {
            Unit::Week => {
                let back = i64::from(d.weekday().to_monday_zero_offset());
                d.checked_sub(back.days()).unwrap_or(d)
            }
            Unit::Month => d.first_of_month(),
            Unit::Quarter => {
                let month = (d.month() - 1) / 3 * 3 + 1;
                Date::new(d.year(), month, 1).unwrap_or_else(|_| d.first_of_month())
            }
        }
    }

    /// The first day of the period after the one starting on `first`.
    fn next_first_day(self, first: Date) -> Option<Date> {
        match self {
            Unit::Week => first.checked_add(7.days()).ok(),
            Unit::Month => first.checked_add(1.month()).ok(),
            Unit::Quarter => first.checked_add(3.months()).ok(),
        }
    }
}

/// A calendar period: its unit and time zone (by its IANA name).
#[derive(Debug, Clone, PartialEq)]
pub struct Calendar {
    pub unit: Unit,
    /// The zone's name as written (`Europe/Berlin`, `UTC`).
    pub zone: String,
    pub tz: TimeZone,
}

/// Why a period could not be placed (only at the ends of the supported
/// calendar, years -9999 and 9999).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no {unit} period holds {at} in time zone {zone}")]
pub struct OutOfRange {
    pub unit: &'static str,
    pub zone: String,
    pub at: String,
}

/// The period holding an instant: `start <= at < end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    pub start: Timestamp,
    pub end: Timestamp,
}

impl Bounds {
    /// From the period's start to `at` (zero before the start).
    pub fn elapsed(&self, at: Timestamp) -> Duration {
        Duration::try_from(at.duration_since(self.start)).unwrap_or(Duration::ZERO)
    }

    /// From `at` to the period's end (zero after the end).
    pub fn left(&self, at: Timestamp) -> Duration {
        Duration::try_from(self.end.duration_since(at)).unwrap_or(Duration::ZERO)
    }

    /// The period's whole length.
    pub fn length(&self) -> Duration {
        self.elapsed(self.end)
    }
}

impl Calendar {
    /// A calendar period in the zone named `zone`, read from the system's
    /// time zone database; `None` for a name it does not know.
    pub fn new(unit: Unit, zone: &str) -> Option<Calendar> {
        let tz = TimeZone::get(zone).ok()?;
        Some(Calendar {
            unit,
            zone: zone.to_owned(),
            tz,
        })
    }

    /// The start and end of the period holding `at`.
    pub fn bounds(&self, at: Timestamp) -> Result<Bounds, OutOfRange> {
        let out = || OutOfRange {
            unit: self.unit.as_str(),
            zone: self.zone.clone(),
            at: at.to_string(),
        };
        let local = at.to_zoned(self.tz.clone()).date();
        let first = self.unit.first_day(local);
        let next = self.unit.next_first_day(first).ok_or_else(out)?;
        let start = self.midnight(first).ok_or_else(out)?;
        let end = self.midnight(next).ok_or_else(out)?;
        Ok(Bounds { start, end })
    }

    /// 00:00 local on `d`, or the first instant after a gap holding it.
    fn midnight(&self, d: Date) -> Option<Timestamp> {
        // `to_zoned` resolves a gap forward and a fold to its earlier instant.
        d.to_zoned(self.tz.clone()).ok().map(|z| z.timestamp())
    }
}

/// Whether `d` is the first day of a `unit` period.
pub fn starts_period(unit: Unit, d: Date) -> bool {
    unit.first_day(d) == d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn cal(unit: Unit, zone: &str) -> Calendar {
        Calendar::new(unit, zone).unwrap()
    }

    fn bounds(unit: Unit, zone: &str, at: &str) -> (String, String) {
        let b = cal(unit, zone).bounds(ts(at)).unwrap();
        (b.start.to_string(), b.end.to_string())
    }

    fn pair(a: &str, b: &str) -> (String, String) {
        (a.to_owned(), b.to_owned())
    }

    #[test]
    fn a_month_in_utc() {
        assert_eq!(
            bounds(Unit::Month, "UTC", "2026-02-14T12:00:00Z"),
            pair("2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z")
        );
        // The first instant belongs to the new month, the last one before it to the old.
        assert_eq!(
            bounds(Unit::Month, "UTC", "2026-03-01T00:00:00Z"),
            pair("2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z")
        );
        assert_eq!(
            bounds(Unit::Month, "UTC", "2026-02-28T23:59:59.999Z"),
            pair("2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z")
        );
        // A leap year's February has 29 days.
        let b = cal(Unit::Month, "UTC")
            .bounds(ts("2028-02-10T00:00:00Z"))
            .unwrap();
        assert_eq!(b.length(), Duration::from_secs(29 * 86_400));
    }

    #[test]
    fn a_berlin_month_starts_at_local_midnight() {
        // Winter (UTC+1): midnight on the 1st is 23:00 UTC the day before.
        assert_eq!(
            bounds(Unit::Month, "Europe/Berlin", "2026-01-31T22:59:59Z"),
            pair("2025-12-31T23:00:00Z", "2026-01-31T23:00:00Z")
        );
        assert_eq!(
            bounds(Unit::Month, "Europe/Berlin", "2026-01-31T23:00:00Z"),
            pair("2026-01-31T23:00:00Z", "2026-02-28T23:00:00Z")
        );
        // Summer (UTC+2).
        assert_eq!(
            bounds(Unit::Month, "Europe/Berlin", "2026-07-15T00:00:00Z"),
            pair("2026-06-30T22:00:00Z", "2026-07-31T22:00:00Z")
        );
    }

    #[test]
    fn months_across_daylight_saving_changes() {
        // March 2026: clocks go forward on Sunday the 29th; 31 days less an hour.
        let march = cal(Unit::Month, "Europe/Berlin")
            .bounds(ts("2026-03-29T12:00:00Z"))
            .unwrap();
        assert_eq!(march.start.to_string(), "2026-02-28T23:00:00Z");
        assert_eq!(march.end.to_string(), "2026-03-31T22:00:00Z");
        assert_eq!(march.length(), Duration::from_secs(31 * 86_400 - 3_600));
        // October 2026: clocks go back on Sunday the 25th; 31 days and an hour.
        let october = cal(Unit::Month, "Europe/Berlin")
            .bounds(ts("2026-10-25T01:30:00Z"))
            .unwrap();
        assert_eq!(october.start.to_string(), "2026-09-30T22:00:00Z");
        assert_eq!(october.end.to_string(), "2026-10-31T23:00:00Z");
        assert_eq!(october.length(), Duration::from_secs(31 * 86_400 + 3_600));
    }

    #[test]
    fn weeks_start_on_monday_even_across_daylight_saving_changes() {
        // Sunday 2026-03-29 (spring forward) is in the week of Monday the 23rd.
        let spring = cal(Unit::Week, "Europe/Berlin")
            .bounds(ts("2026-03-29T10:00:00Z"))
            .unwrap();
        assert_eq!(spring.start.to_string(), "2026-03-22T23:00:00Z");
        assert_eq!(spring.end.to_string(), "2026-03-29T22:00:00Z");
        assert_eq!(spring.length(), Duration::from_secs(7 * 86_400 - 3_600));
        // The week of the fall back (Sunday 2026-10-25) is an hour longer.
        let fall = cal(Unit::Week, "Europe/Berlin")
            .bounds(ts("2026-10-21T00:00:00Z"))
            .unwrap();
        assert_eq!(fall.start.to_string(), "2026-10-18T22:00:00Z");
        assert_eq!(fall.end.to_string(), "2026-10-25T23:00:00Z");
        assert_eq!(fall.length(), Duration::from_secs(7 * 86_400 + 3_600));
        // A Monday at 00:00 local starts a week.
        assert_eq!(
            bounds(Unit::Week, "Europe/Berlin", "2026-10-25T23:00:00Z"),
            pair("2026-10-25T23:00:00Z", "2026-11-01T23:00:00Z")
        );
    }

    #[test]
    fn weeks_and_quarters_across_year_ends() {
        // 2026-12-31 is a Thursday: its week runs into 2027.
        assert_eq!(
            bounds(Unit::Week, "UTC", "2026-12-31T12:00:00Z"),
            pair("2026-12-28T00:00:00Z", "2027-01-04T00:00:00Z")
        );
        // Friday 2027-01-01 belongs to that same week.
        assert_eq!(
            bounds(Unit::Week, "UTC", "2027-01-01T00:00:00Z"),
            pair("2026-12-28T00:00:00Z", "2027-01-04T00:00:00Z")
        );
        assert_eq!(
            bounds(Unit::Quarter, "UTC", "2026-12-31T23:59:59Z"),
            pair("2026-10-01T00:00:00Z", "2027-01-01T00:00:00Z")
        );
        assert_eq!(
            bounds(Unit::Month, "Europe/Berlin", "2026-12-31T23:30:00Z"),
            pair("2026-12-31T23:00:00Z", "2027-01-31T23:00:00Z")
        );
    }

    #[test]
    fn quarters_start_in_january_april_july_and_october() {
        for (at, start, end) in [
            (
                "2026-02-15T00:00:00Z",
                "2025-12-31T23:00:00Z",
                "2026-03-31T22:00:00Z",
            ),
            (
                "2026-05-15T00:00:00Z",
                "2026-03-31T22:00:00Z",
                "2026-06-30T22:00:00Z",
            ),
            (
                "2026-08-15T00:00:00Z",
                "2026-06-30T22:00:00Z",
                "2026-09-30T22:00:00Z",
            ),
            (
                "2026-11-15T00:00:00Z",
                "2026-09-30T22:00:00Z",
                "2026-12-31T23:00:00Z",
            ),
        ] {
            assert_eq!(
                bounds(Unit::Quarter, "Europe/Berlin", at),
                pair(start, end),
                "{at}"
            );
        }
    }

    #[test]
    fn a_midnight_in_a_gap_starts_after_the_gap() {
        // America/Havana springs forward at midnight: 2026-03-08 00:00 does
        // not exist, the day starts at 01:00 CDT (UTC-4).
        let havana = cal(Unit::Week, "America/Havana");
        let day = Date::new(2026, 3, 8).unwrap();
        assert_eq!(
            havana.midnight(day).unwrap().to_string(),
            "2026-03-08T05:00:00Z"
        );
        // The week before it ends there too, an hour short.
        let week = havana.bounds(ts("2026-03-07T12:00:00Z")).unwrap();
        assert_eq!(week.start.to_string(), "2026-03-02T05:00:00Z");
        assert_eq!(week.end.to_string(), "2026-03-09T04:00:00Z");
    }

    #[test]
    fn elapsed_and_left() {
        let b = cal(Unit::Month, "UTC")
            .bounds(ts("2026-04-11T06:00:00Z"))
            .unwrap();
        let at = ts("2026-04-11T06:00:00Z");
        assert_eq!(b.elapsed(at), Duration::from_secs(10 * 86_400 + 6 * 3_600));
        assert_eq!(b.left(at), Duration::from_secs(19 * 86_400 + 18 * 3_600));
        assert_eq!(b.left(ts("2026-06-01T00:00:00Z")), Duration::ZERO);
    }

    #[test]
    fn unknown_zones_are_none_and_nominal_lengths() {
        assert_eq!(Calendar::new(Unit::Month, "Europe/Berlinn"), None);
        assert_eq!(Calendar::new(Unit::Month, ""), None);
        assert_eq!(Unit::Month.nominal(), Duration::from_secs(30 * 86_400));
        assert_eq!(Unit::Week.nominal(), Duration::from_secs(7 * 86_400));
        assert_eq!(Unit::Quarter.nominal(), Duration::from_secs(91 * 86_400));
        assert!(starts_period(Unit::Quarter, Date::new(2026, 4, 1).unwrap()));
        assert!(!starts_period(
            Unit::Quarter,
            Date::new(2026, 5, 1).unwrap()
        ));
        assert!(starts_period(Unit::Week, Date::new(2026, 3, 23).unwrap()));
        assert!(!starts_period(Unit::Week, Date::new(2026, 3, 24).unwrap()));
    }
}
