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

/// A zone's local time as PromQL (which has no time zones) sees it: a
/// fixed offset, or a standard offset and a yearly daylight saving rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalRule {
    /// Seconds east of UTC, all year.
    Fixed(i32),
    /// Daylight saving time: `delta` seconds more than `standard` from
    /// `start` to `end`, both written in standard local time.
    Dst {
        standard: i32,
        delta: i32,
        start: Change,
        end: Change,
    },
}

/// A yearly change of offset, in standard local time: the `nth` (`None`:
/// the last) `weekday` (0 is Sunday, as PromQL's `day_of_week()`) of
/// `month`, at `minute` of that day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    pub month: i8,
    pub weekday: i8,
    pub nth: Option<i8>,
    pub minute: i32,
}

/// The years a derived [`LocalRule`] is checked against the zone's own
/// transitions in.
const RULE_YEARS: (i16, i16) = (2026, 2045);

/// Why rules cannot place a zone's periods.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "time zone {zone} changes its offset other than once a year each way on a fixed weekday ({years}), which the generated rules cannot follow"
)]
pub struct NoYearlyRule {
    pub zone: String,
    pub years: String,
}

fn change_at(t: Timestamp, standard: i32) -> Option<(Date, i32)> {
    let off = jiff::tz::Offset::from_seconds(standard).ok()?;
    let dt = t.to_zoned(TimeZone::fixed(off)).datetime();
    (dt.second() == 0 && dt.subsec_nanosecond() == 0).then(|| {
        (
            dt.date(),
            i32::from(dt.hour()) * 60 + i32::from(dt.minute()),
        )
    })
}

impl Change {
    /// The day of `year` this change falls on.
    fn day(self, year: i16) -> Option<Date> {
        let first = Date::new(year, self.month, 1).ok()?;
        let w = |d: Date| d.weekday().to_sunday_zero_offset();
        match self.nth {
            Some(n) => {
                let skip = (self.weekday - w(first)).rem_euclid(7) + 7 * (n - 1);
                first.checked_add(i64::from(skip).days()).ok()
            }
            None => {
                let last = first.last_of_month();
                let back = (w(last) - self.weekday).rem_euclid(7);
                last.checked_sub(i64::from(back).days()).ok()
            }
        }
    }

    /// The change that falls on `d` at `minute`: `last` or `nth` weekday.
    fn on(d: Date, minute: i32, last: bool) -> Change {
        Change {
            month: d.month(),
            weekday: d.weekday().to_sunday_zero_offset(),
            nth: (!last).then_some((d.day() - 1) / 7 + 1),
            minute,
        }
    }
}

impl Calendar {
    /// The zone's offsets as a yearly rule, derived from its transitions
    /// and checked against every one of them in 2026-2045.
    pub fn local_rule(&self) -> Result<LocalRule, NoYearlyRule> {
        let err = || NoYearlyRule {
            zone: self.zone.clone(),
            years: format!("checked in {}-{}", RULE_YEARS.0, RULE_YEARS.1),
        };
        let from = Date::new(RULE_YEARS.0, 1, 1)
            .and_then(|d| d.to_zoned(TimeZone::UTC))
            .map_err(|_| err())?
            .timestamp();
        let to = Date::new(RULE_YEARS.1 + 1, 1, 1)
            .and_then(|d| d.to_zoned(TimeZone::UTC))
            .map_err(|_| err())?
            .timestamp();
        let actual: Vec<(Timestamp, i32)> = self
            .tz
            .following(from)
            .take_while(|t| t.timestamp() < to)
            .map(|t| (t.timestamp(), t.offset().seconds()))
            .collect();
        let before = self.tz.to_offset(from).seconds();
        if actual.is_empty() {
            return Ok(LocalRule::Fixed(before));
        }
        let offsets: Vec<i32> = std::iter::once(before)
            .chain(actual.iter().map(|a| a.1))
            .collect();
        let standard = offsets.iter().copied().min().ok_or_else(err)?;
        let summer = offsets.iter().copied().max().ok_or_else(err)?;
        if offsets.iter().any(|o| *o != standard && *o != summer) {
            return Err(err());
        }
        let first_of = |to_summer: bool| {
            actual
                .iter()
                .find(|a| (a.1 == summer) == to_summer)
                .and_then(|a| change_at(a.0, standard))
        };
        let (start_day, start_minute) = first_of(true).ok_or_else(err)?;
        let (end_day, end_minute) = first_of(false).ok_or_else(err)?;
        let last_week = |d: Date| d.day() + 7 > d.days_in_month();
        let candidates = |d: Date, m: i32| {
            let mut c = vec![Change::on(d, m, false)];
            if last_week(d) {
                c.insert(0, Change::on(d, m, true));
            }
            c
        };
        for start in candidates(start_day, start_minute) {
            for end in candidates(end_day, end_minute) {
                let rule = LocalRule::Dst {
                    standard,
                    delta: summer - standard,
                    start,
                    end,
                };
                if rule_transitions(start, end, standard, summer)
                    .is_some_and(|expected| expected == actual)
                {
                    return Ok(rule);
                }
            }
        }
        Err(err())
    }
}

/// The transitions a yearly rule makes in [`RULE_YEARS`], in order.
fn rule_transitions(
    start: Change,
    end: Change,
    standard: i32,
    summer: i32,
) -> Option<Vec<(Timestamp, i32)>> {
    let off = jiff::tz::Offset::from_seconds(standard).ok()?;
    let std_tz = TimeZone::fixed(off);
    let mut out = Vec::new();
    for year in RULE_YEARS.0..=RULE_YEARS.1 {
        for (c, to) in [(start, summer), (end, standard)] {
            let d = c.day(year)?;
            let dt = d.to_datetime(jiff::civil::Time::midnight());
            let t = std_tz.to_timestamp(dt).ok()?;
            out.push((t.checked_add(i64::from(c.minute).minutes()).ok()?, to));
        }
    }
    out.sort();
    Some(out)
}

/// The offsets at month starts: for a zone with daylight saving time,
/// which local months (bit `m - 1` for month `m`) start in daylight saving
/// time, checked at every month start of 2026-2045 from `margin` before to
/// `margin` after it. Months and quarters start only there, so this is all
/// their rules need (and far less PromQL than the yearly rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonthStarts {
    pub standard: i32,
    pub delta: i32,
    pub summer_months: u16,
}

impl Calendar {
    /// The zone's offsets at month starts, if they follow the months.
    pub fn month_starts(&self, margin: Duration) -> Result<MonthStarts, NoYearlyRule> {
        let err = || NoYearlyRule {
            zone: self.zone.clone(),
            years: format!("at month starts in {}-{}", RULE_YEARS.0, RULE_YEARS.1),
        };
        let (standard, delta) = match self.local_rule()? {
            LocalRule::Fixed(o) => (o, 0),
            LocalRule::Dst {
                standard, delta, ..
            } => (standard, delta),
        };
        let margin = i64::try_from(margin.as_secs()).map_err(|_| err())?;
        let mut summer: [Option<bool>; 12] = [None; 12];
        for year in RULE_YEARS.0..=RULE_YEARS.1 {
            for month in 1..=12i8 {
                let start = Date::new(year, month, 1)
                    .ok()
                    .and_then(|d| self.midnight(d))
                    .ok_or_else(err)?;
                for at in [start - margin.seconds(), start + margin.seconds()] {
                    let dst = self.tz.to_offset(at).seconds() != standard;
                    let slot = &mut summer[usize::from(month.unsigned_abs() - 1)];
                    if slot.is_some_and(|s| s != dst) {
                        return Err(err());
                    }
                    *slot = Some(dst);
                }
            }
        }
        let summer_months = summer
            .iter()
            .enumerate()
            .filter(|(_, s)| **s == Some(true))
            .fold(0u16, |m, (i, _)| m | (1 << i));
        Ok(MonthStarts {
            standard,
            delta,
            summer_months,
        })
    }
}

/// `vector(time() + offset - shift)` in short form.
fn shifted(offset: i32, shift: u32) -> String {
    let o = i64::from(offset) - i64::from(shift);
    match o.cmp(&0) {
        std::cmp::Ordering::Less => format!("vector(time() - {})", -o),
        std::cmp::Ordering::Equal => "vector(time())".to_owned(),
        std::cmp::Ordering::Greater => format!("vector(time() + {o})"),
    }
}

/// PromQL for the local time (as seconds, an instant vector without
/// labels) of `time() - shift` near any month start, from `starts`.
///
/// Keyed by the month of standard time plus the daylight saving delta: at
/// a month start into daylight saving time that is already the new month,
/// and at one out of it the standard time is.
fn month_local(starts: MonthStarts, shift: u32) -> String {
    let s = shifted(starts.standard, shift);
    if starts.delta == 0 || starts.summer_months == 0 {
        return s;
    }
    let ahead = shifted(starts.standard + starts.delta, shift);
    let m = format!("month({ahead})");
    let range = |(a, b): (u16, u16)| {
        if a == b {
            format!("({m} == bool {a})")
        } else {
            format!("({m} >= bool {a}) * ({m} <= bool {b})")
        }
    };
    let summer = match (
        run(starts.summer_months),
        run(!starts.summer_months & 0xfff),
    ) {
        (Some(r), _) => range(r),
        (None, Some(r)) => format!("(1 - {})", range(r)),
        (None, None) => (1..=12u16)
            .filter(|i| starts.summer_months & (1 << (i - 1)) != 0)
            .map(|i| format!("({m} == bool {i})"))
            .collect::<Vec<_>>()
            .join(" + "),
    };
    format!("({s} + {} * ({summer}))", starts.delta)
}

/// The months of `set` (bit `m - 1` for month `m`) as one run `(first,
/// last)`, if they are one.
fn run(set: u16) -> Option<(u16, u16)> {
    if set == 0 {
        return None;
    }
    let first = set.trailing_zeros() as u16;
    let len = (set >> first).trailing_ones() as u16;
    (set >> (first + len) == 0).then_some((first + 1, first + len))
}

/// PromQL for the local time of `time() - shift` all year, from a yearly rule.
fn rule_local(rule: LocalRule, shift: u32) -> String {
    match rule {
        LocalRule::Fixed(offset) => shifted(offset, shift),
        LocalRule::Dst {
            standard,
            delta,
            start,
            end,
        } => {
            let s = shifted(standard, shift);
            let after = |c: Change| {
                let day = match c.nth {
                    Some(n) => format!(
                        "(1 + (({w} + 35 - day_of_week({s}) + day_of_month({s}) - 1) % 7) + {weeks})",
                        w = c.weekday,
                        weeks = 7 * i32::from(n - 1),
                    ),
                    None => format!(
                        "(days_in_month({s}) - ((day_of_week({s}) + days_in_month({s}) - day_of_month({s}) + {back}) % 7))",
                        back = 7 - c.weekday,
                    ),
                };
                format!(
                    "((month({s}) > bool {m}) + (month({s}) == bool {m}) * (day_of_month({s}) * 1440 + hour({s}) * 60 + minute({s}) >= bool {day} * 1440 + {minute}))",
                    m = c.month,
                    minute = c.minute,
                )
            };
            let summer = if start.month < end.month {
                format!("{} * (1 - {})", after(start), after(end))
            } else {
                format!("(1 - (1 - {}) * {})", after(start), after(end))
            };
            format!("({s} + {delta} * {summer})")
        }
    }
}

/// What the rules of a calendar period need to know of its zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Local {
    /// Weeks, and months and quarters of a zone whose offset can change
    /// near a month start: the yearly rule.
    Rule(LocalRule),
    /// Months and quarters: the offsets at month starts.
    MonthStarts(MonthStarts),
}

impl Calendar {
    /// The zone as the rules of this period need it, for sums in `step`s.
    pub fn local(&self, step: Duration) -> Result<Local, NoYearlyRule> {
        match self.unit {
            Unit::Week => self.local_rule().map(Local::Rule),
            Unit::Month | Unit::Quarter => {
                let margin = step + Duration::from_secs(2 * 3_600);
                // A zone whose change can fall near a month start
                // (Australia/Sydney leaves summer time on the first Sunday
                // of April) needs the whole yearly rule.
                match self.month_starts(margin) {
                    Ok(m) => Ok(Local::MonthStarts(m)),
                    Err(_) => self.local_rule().map(Local::Rule),
                }
            }
        }
    }
}

/// PromQL for the period index modulo 3 of the instant `time() - shift`,
/// an instant vector without labels: the current period and the two before
/// it have different values. Consecutive months, weeks and quarters count
/// up by one, so `(year * 12 + month) % 3` is `month % 3`.
pub fn period_residue_promql(unit: Unit, local: Local, shift: u32) -> String {
    let l = match local {
        Local::Rule(r) => rule_local(r, shift),
        Local::MonthStarts(m) => month_local(m, shift),
    };
    match unit {
        Unit::Month => format!("month({l}) % 3"),
        Unit::Quarter => format!("(year({l}) + floor((month({l}) - 1) / 3)) % 3"),
        // 1969-12-29, a Monday, is 3 days before the epoch.
        Unit::Week => format!("floor(({l} + 259200) / 604800) % 3"),
    }
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

    #[test]
    fn yearly_rules_are_derived_from_the_zones_transitions() {
        let rule = |zone: &str| cal(Unit::Week, zone).local_rule();
        let change = |month, weekday, nth, minute| Change {
            month,
            weekday,
            nth,
            minute,
        };
        // Last Sunday of March at 02:00 CET to last Sunday of October at 02:00 CET.
        assert_eq!(
            rule("Europe/Berlin"),
            Ok(LocalRule::Dst {
                standard: 3_600,
                delta: 3_600,
                start: change(3, 0, None, 120),
                end: change(10, 0, None, 120),
            })
        );
        // Second Sunday of March to first Sunday of November, 02:00 and 01:00 EST.
        assert_eq!(
            rule("America/New_York"),
            Ok(LocalRule::Dst {
                standard: -18_000,
                delta: 3_600,
                start: change(3, 0, Some(2), 120),
                end: change(11, 0, Some(1), 60),
            })
        );
        assert_eq!(rule("UTC"), Ok(LocalRule::Fixed(0)));
        assert_eq!(rule("Asia/Kolkata"), Ok(LocalRule::Fixed(19_800)));
        // Months and quarters: which months start in summer time.
        let margin = Duration::from_secs(3 * 3_600);
        let m = cal(Unit::Month, "Europe/Berlin")
            .month_starts(margin)
            .unwrap();
        assert_eq!(m.summer_months, 0b0011_1111_1000);
        // Sydney leaves summer time on the first Sunday of April at 03:00,
        // which can be 3 hours after April starts: too close to tell.
        assert!(
            cal(Unit::Month, "Australia/Sydney")
                .month_starts(margin)
                .is_err()
        );
        // Its months and quarters follow the yearly rule instead: the
        // first Sunday of October at 02:00 and of April at 02:00 standard
        // time (03:00 summer time), south of the equator.
        let sydney = LocalRule::Dst {
            standard: 36_000,
            delta: 3_600,
            start: change(10, 0, Some(1), 120),
            end: change(4, 0, Some(1), 120),
        };
        for unit in [Unit::Month, Unit::Quarter] {
            assert_eq!(
                cal(unit, "Australia/Sydney").local(Duration::from_secs(3_600)),
                Ok(Local::Rule(sydney))
            );
        }
        // Berlin's months keep the shorter form.
        assert!(matches!(
            cal(Unit::Month, "Europe/Berlin").local(Duration::from_secs(3_600)),
            Ok(Local::MonthStarts(_))
        ));
    }
}
