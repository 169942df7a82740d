//! `time`: cookiecutter's `{% now %}` tag (its TimeExtension on arrow): time zones as arrow
//! parses them, relativedelta-style shifts and Python's `strftime` on Linux.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDateTime, Offset, TimeZone, Timelike, Utc};
use minijinja::Error;
use minijinja::value::{Value, ValueKind};

use super::{Runtime, op_err};

/// A time zone as arrow's `TzinfoParser` reads it.
#[derive(Debug, Clone)]
enum Zone {
    Utc,
    Fixed(FixedOffset),
    Named(chrono_tz::Tz),
}

fn parse_zone(s: &str) -> Result<Zone, Error> {
    match s {
        // 'local' is the server's zone; Maestro servers run in UTC (and goldens are made with TZ=UTC).
        "local" | "utc" | "UTC" | "Z" => return Ok(Zone::Utc),
        _ => {}
    }
    // ^(?:\(UTC)*([\+\-])?(\d{2})(?:\:?(\d{2}))?  (a prefix match)
    let mut rest = s;
    while let Some(r) = rest.strip_prefix("(UTC") {
        rest = r;
    }
    let mut sign = 1;
    if let Some(r) = rest.strip_prefix('+') {
        rest = r;
    } else if let Some(r) = rest.strip_prefix('-') {
        rest = r;
        sign = -1;
    }
    let digits = |t: &str| t.len() >= 2 && t.as_bytes()[..2].iter().all(u8::is_ascii_digit);
    if digits(rest) {
        let hours: i32 = rest[..2].parse().unwrap_or(0);
        let mut minutes = 0;
        let tail = &rest[2..];
        let tail = tail.strip_prefix(':').unwrap_or(tail);
        if digits(tail) {
            minutes = tail[..2].parse().unwrap_or(0);
        }
        let secs = sign * (hours * 3600 + minutes * 60);
        return FixedOffset::east_opt(secs)
            .map(Zone::Fixed)
            .ok_or_else(|| op_err(format!("now: offset {s:?} is out of range")));
    }
    s.parse::<chrono_tz::Tz>()
        .map(Zone::Named)
        .map_err(|_| op_err(format!("now: could not parse timezone expression {s:?}")))
}

/// Local wall-clock time plus what `%Z` and `%z` print.
struct ZonedTime {
    local: NaiveDateTime,
    name: String,
    offset_secs: i32,
}

fn to_zone(utc: DateTime<Utc>, zone: &Zone) -> ZonedTime {
    match zone {
        Zone::Utc => ZonedTime {
            local: utc.naive_utc(),
            name: "UTC".into(),
            offset_secs: 0,
        },
        Zone::Fixed(off) => ZonedTime {
            local: utc.with_timezone(off).naive_local(),
            name: fixed_name(off.local_minus_utc()),
            offset_secs: off.local_minus_utc(),
        },
        Zone::Named(tz) => {
            use chrono_tz::OffsetName;
            let t = utc.with_timezone(tz);
            let off = t.offset();
            ZonedTime {
                local: t.naive_local(),
                name: off.abbreviation().unwrap_or("").to_string(),
                offset_secs: off.fix().local_minus_utc(),
            }
        }
    }
}

/// Python's name for an unnamed fixed-offset `timezone`: `UTC`, `UTC+05:30`.
fn fixed_name(secs: i32) -> String {
    if secs == 0 {
        return "UTC".into();
    }
    let sign = if secs < 0 { '-' } else { '+' };
    let a = secs.unsigned_abs();
    let (h, m, s) = (a / 3600, (a % 3600) / 60, a % 60);
    if s != 0 {
        format!("UTC{sign}{h:02}:{m:02}:{s:02}")
    } else {
        format!("UTC{sign}{h:02}:{m:02}")
    }
}

fn format_arg(fmt: &Value) -> Result<String, Error> {
    match fmt.kind() {
        ValueKind::None | ValueKind::Undefined => Ok("%Y-%m-%d".into()),
        ValueKind::String => Ok(fmt.as_str().unwrap_or_default().to_string()),
        other => Err(op_err(format!(
            "now: the format must be a string, not {other}"
        ))),
    }
}

fn zone_arg(tz: &Value) -> Result<Zone, Error> {
    match tz.as_str() {
        Some(s) => parse_zone(s),
        None => Err(op_err(format!(
            "now: the timezone must be a string, not {}",
            tz.kind()
        ))),
    }
}

pub(super) fn now_fn(rt: &Runtime, tz: &Value, fmt: &Value) -> Result<String, Error> {
    let zone = zone_arg(tz)?;
    let t = to_zone(rt.now, &zone);
    strftime(&t, &format_arg(fmt)?)
}

/// `{% now 'utc' + 'hours=2, minutes=30', fmt %}`: arrow's `shift` (relativedelta semantics).
pub(super) fn shift_fn(
    rt: &Runtime,
    tz: &Value,
    op: &str,
    offset: &Value,
    fmt: &Value,
) -> Result<String, Error> {
    let zone = zone_arg(tz)?;
    let Some(offset) = offset.as_str() else {
        return Err(op_err(
            "now: the offset must be a string like 'days=1, hours=2'",
        ));
    };
    let (mut years, mut months, mut micros) = (0f64, 0f64, 0f64);
    for param in offset.split(',') {
        let parts: Vec<&str> = param.split('=').collect();
        let [interval, value] = parts.as_slice() else {
            return Err(op_err(format!(
                "now: bad offset {param:?}; expected unit=number"
            )));
        };
        let number = format!("{op}{}", value.trim());
        let v: f64 = number.parse().map_err(|_| {
            op_err(format!(
                "now: could not convert string to float: {number:?}"
            ))
        })?;
        match interval.trim() {
            "years" => years += v,
            "months" => months += v,
            "quarters" => months += v * 3.0,
            "weeks" => micros += v * 7.0 * 86_400e6,
            "days" => micros += v * 86_400e6,
            "hours" => micros += v * 3_600e6,
            "minutes" => micros += v * 60e6,
            "seconds" => micros += v * 1e6,
            "microseconds" => micros += v,
            other => {
                return Err(op_err(format!(
                    "now: invalid shift time frame {other:?}; use years, months, weeks, days, \
                     hours, minutes, seconds, microseconds or quarters"
                )));
            }
        }
    }
    if years.fract() != 0.0 || months.fract() != 0.0 {
        return Err(op_err(
            "now: non-integer years and months are ambiguous and not supported",
        ));
    }
    let t = to_zone(rt.now, &zone);
    let mut local = t.local;
    // relativedelta: calendar months first (day clamped to the month's end), then the rest.
    let total_months = local.year() as f64 * 12.0 + (local.month0() as f64) + years * 12.0 + months;
    if total_months.abs() > 1e7 {
        return Err(op_err("now: shift out of range"));
    }
    let total_months = total_months as i64;
    let (year, month0) = (
        total_months.div_euclid(12) as i32,
        total_months.rem_euclid(12) as u32,
    );
    let last_day =
        last_day_of_month(year, month0 + 1).ok_or_else(|| op_err("now: shift out of range"))?;
    local = local
        .with_day(1)
        .and_then(|d| d.with_year(year))
        .and_then(|d| d.with_month(month0 + 1))
        .and_then(|d| d.with_day(local.day().min(last_day)))
        .ok_or_else(|| op_err("now: shift out of range"))?;
    if !micros.is_finite() || micros.abs() > 3e17 {
        return Err(op_err("now: shift out of range"));
    }
    let delta = chrono::TimeDelta::microseconds(round_half_even(micros));
    local = local
        .checked_add_signed(delta)
        .ok_or_else(|| op_err("now: shift out of range"))?;
    let shifted = resolve_local(local, &zone)?;
    strftime(&shifted, &format_arg(fmt)?)
}

fn round_half_even(x: f64) -> i64 {
    let r = x.round();
    if (x - x.trunc()).abs() == 0.5 && (r as i64) % 2 != 0 {
        (r - x.signum()) as i64
    } else {
        r as i64
    }
}

fn last_day_of_month(year: i32, month: u32) -> Option<u32> {
    let (ny, nm) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    let first_next = chrono::NaiveDate::from_ymd_opt(ny, nm, 1)?;
    Some(first_next.pred_opt()?.day())
}

/// Wall-clock arithmetic result back to a zoned time: ambiguous times take the first
/// occurrence (fold=0) and times in a DST gap move forward by the gap, like dateutil's
/// `resolve_imaginary`.
fn resolve_local(local: NaiveDateTime, zone: &Zone) -> Result<ZonedTime, Error> {
    match zone {
        Zone::Utc | Zone::Fixed(_) => {
            let (name, off) = match zone {
                Zone::Fixed(o) => (fixed_name(o.local_minus_utc()), o.local_minus_utc()),
                _ => ("UTC".to_string(), 0),
            };
            Ok(ZonedTime {
                local,
                name,
                offset_secs: off,
            })
        }
        Zone::Named(tz) => {
            use chrono::LocalResult;
            let utc = match tz.from_local_datetime(&local) {
                LocalResult::Single(t) => t.with_timezone(&Utc),
                LocalResult::Ambiguous(a, _) => a.with_timezone(&Utc),
                LocalResult::None => {
                    let day = chrono::TimeDelta::hours(24);
                    let range = || op_err("now: shift out of range");
                    let before = tz
                        .offset_from_utc_datetime(&local.checked_sub_signed(day).ok_or_else(range)?)
                        .fix();
                    let after = tz
                        .offset_from_utc_datetime(&local.checked_add_signed(day).ok_or_else(range)?)
                        .fix();
                    let gap = after.local_minus_utc() - before.local_minus_utc();
                    let moved = local
                        .checked_add_signed(chrono::TimeDelta::seconds(gap as i64))
                        .ok_or_else(range)?;
                    match tz.from_local_datetime(&moved) {
                        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => {
                            t.with_timezone(&Utc)
                        }
                        LocalResult::None => {
                            return Err(op_err("now: time does not exist in the zone"));
                        }
                    }
                }
            };
            Ok(to_zone(utc, zone))
        }
    }
}

const DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// Python's `datetime.strftime` on Linux: `%f`, `%z`, `%Z` by Python, the rest like glibc
/// (C locale), including the `-`, `_`, `0`, `^` flags and field widths; unknown directives
/// are copied as they are.
fn strftime(t: &ZonedTime, fmt: &str) -> Result<String, Error> {
    if fmt.len() > 10_000 {
        return Err(op_err("now: the format is too long"));
    }
    let d = &t.local;
    let chars: Vec<char> = fmt.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '%' {
            out.push(c);
            i += 1;
            continue;
        }
        let start = i;
        i += 1;
        let mut flag: Option<char> = None;
        while let Some(&f) = chars
            .get(i)
            .filter(|f| matches!(f, '-' | '_' | '0' | '^' | '#'))
        {
            flag = Some(f);
            i += 1;
        }
        let mut width: Option<usize> = None;
        while let Some(&w) = chars.get(i).filter(|w| w.is_ascii_digit()) {
            width = Some(
                width
                    .unwrap_or(0)
                    .saturating_mul(10)
                    .saturating_add(w as usize - '0' as usize)
                    .min(1000),
            );
            i += 1;
        }
        let Some(&conv) = chars.get(i) else {
            out.extend(&chars[start..]);
            break;
        };
        i += 1;
        let wd = d.weekday().num_days_from_monday() as usize;
        let yday = d.ordinal0() as i64;
        let sunday_wd = d.weekday().num_days_from_sunday() as i64;
        // (text, default pad char, default width); numbers pad, text does not.
        let num = |v: i64, w: usize| (v.to_string(), '0', w);
        let sp = |v: i64, w: usize| (v.to_string(), ' ', w);
        let txt = |s: String| (s, ' ', 0usize);
        let hour12 = if d.hour().is_multiple_of(12) {
            12
        } else {
            d.hour() % 12
        } as i64;
        let (text, pad, def_width) = match conv {
            'a' => txt(DAYS[wd][..3].to_string()),
            'A' => txt(DAYS[wd].to_string()),
            'b' | 'h' => txt(MONTHS[d.month0() as usize][..3].to_string()),
            'B' => txt(MONTHS[d.month0() as usize].to_string()),
            'c' => txt(format!(
                "{} {} {:>2} {:02}:{:02}:{:02} {}",
                &DAYS[wd][..3],
                &MONTHS[d.month0() as usize][..3],
                d.day(),
                d.hour(),
                d.minute(),
                d.second(),
                d.year()
            )),
            'C' => num(d.year().div_euclid(100) as i64, 2),
            'd' => num(d.day() as i64, 2),
            'D' | 'x' => txt(format!(
                "{:02}/{:02}/{:02}",
                d.month(),
                d.day(),
                d.year().rem_euclid(100)
            )),
            'e' => sp(d.day() as i64, 2),
            'F' => txt(format!("{}-{:02}-{:02}", d.year(), d.month(), d.day())),
            'f' => num(d.and_utc().timestamp_subsec_micros() as i64, 6),
            'G' => num(d.iso_week().year() as i64, 1),
            'g' => num(d.iso_week().year().rem_euclid(100) as i64, 2),
            'H' => num(d.hour() as i64, 2),
            'I' => num(hour12, 2),
            'j' => num(yday + 1, 3),
            'k' => sp(d.hour() as i64, 2),
            'l' => sp(hour12, 2),
            'm' => num(d.month() as i64, 2),
            'M' => num(d.minute() as i64, 2),
            'n' => txt("\n".into()),
            'p' => txt(if d.hour() < 12 { "AM" } else { "PM" }.into()),
            'P' => txt(if d.hour() < 12 { "am" } else { "pm" }.into()),
            'r' => txt(format!(
                "{:02}:{:02}:{:02} {}",
                hour12,
                d.minute(),
                d.second(),
                if d.hour() < 12 { "AM" } else { "PM" }
            )),
            'R' => txt(format!("{:02}:{:02}", d.hour(), d.minute())),
            's' => num(d.and_utc().timestamp(), 1),
            'S' => num(d.second() as i64, 2),
            't' => txt("\t".into()),
            'T' | 'X' => txt(format!(
                "{:02}:{:02}:{:02}",
                d.hour(),
                d.minute(),
                d.second()
            )),
            'u' => num(wd as i64 + 1, 1),
            'U' => num((yday + 7 - sunday_wd) / 7, 2),
            'V' => num(d.iso_week().week() as i64, 2),
            'w' => num(sunday_wd, 1),
            'W' => num((yday + 7 - wd as i64) / 7, 2),
            'y' => num(d.year().rem_euclid(100) as i64, 2),
            'Y' => num(d.year() as i64, 1),
            'z' => {
                let s = t.offset_secs;
                let sign = if s < 0 { '-' } else { '+' };
                let a = s.unsigned_abs();
                let base = format!("{sign}{:02}{:02}", a / 3600, (a % 3600) / 60);
                txt(if !a.is_multiple_of(60) {
                    format!("{base}{:02}", a % 60)
                } else {
                    base
                })
            }
            'Z' => txt(t.name.clone()),
            '%' => txt("%".into()),
            _ => {
                out.extend(&chars[start..i]);
                continue;
            }
        };
        let text = match flag {
            Some('^') => text.to_uppercase(),
            _ => text,
        };
        let is_num = pad == '0' || (pad == ' ' && def_width > 0);
        let width = width.unwrap_or(def_width);
        let fill = match flag {
            Some('-') => None,
            Some('_') => Some(' '),
            Some('0') => Some('0'),
            _ if is_num => Some(pad),
            _ => Some(' '),
        };
        let len = text.chars().count();
        match fill {
            Some(f) if len < width => {
                let (sign, digits) = match text.strip_prefix('-') {
                    Some(rest) if f == '0' => ("-", rest),
                    _ => ("", text.as_str()),
                };
                out.push_str(sign);
                out.extend(std::iter::repeat_n(f, width - len));
                out.push_str(digits);
            }
            _ => out.push_str(&text),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zt(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> ZonedTime {
        let utc = Utc
            .with_ymd_and_hms(y, mo, d, h, mi, s)
            .single()
            .unwrap_or_default();
        to_zone(utc, &Zone::Utc)
    }

    #[test]
    fn strftime_matches_python_on_linux() {
        let t = zt(2024, 3, 9, 12, 0, 0);
        // Expected values from Python 3.11 on glibc for 2024-03-09T12:00:00+00:00.
        assert_eq!(
            strftime(
                &t,
                "%Q|%-d|%e|%f|%c|%x|%X|%G-%V-%u|%s|%C|%D|%F|%P|%k|%l|%r|%R|%T|%h|%%|%^a|%_d|%010Y|%"
            )
            .unwrap(),
            "%Q|9| 9|000000|Sat Mar  9 12:00:00 2024|03/09/24|12:00:00|2024-10-6|1709985600|20|03/09/24|2024-03-09|pm|12|12|12:00:00 PM|12:00|12:00:00|Mar|%|SAT| 9|0000002024|%"
        );
        assert_eq!(
            strftime(&t, "%Y-%m-%d %H:%M %Z %z %j %U %W %a %A %B %b %p").unwrap(),
            "2024-03-09 12:00 UTC +0000 069 09 10 Sat Saturday March Mar PM"
        );
    }

    #[test]
    fn zones_follow_arrow() {
        let now = Utc
            .with_ymd_and_hms(2024, 3, 9, 12, 0, 0)
            .single()
            .unwrap_or_default();
        let t = to_zone(now, &parse_zone("+05:30").unwrap());
        assert_eq!(
            strftime(&t, "%H:%M %Z %z").unwrap(),
            "17:30 UTC+05:30 +0530"
        );
        let t = to_zone(now, &parse_zone("Europe/Berlin").unwrap());
        assert_eq!(strftime(&t, "%H:%M %Z %z").unwrap(), "13:00 CET +0100");
        assert!(parse_zone("Mars/Olympus").is_err());
        assert!(matches!(parse_zone("local").unwrap(), Zone::Utc));
    }

    #[test]
    fn shifts_follow_relativedelta() {
        let rt = Runtime::new(
            Utc.with_ymd_and_hms(2024, 1, 31, 12, 0, 0).single(),
            Some(1),
        );
        let f = Value::from("%Y-%m-%d %H:%M");
        let utc = Value::from("utc");
        let s = |op: &str, off: &str| shift_fn(&rt, &utc, op, &Value::from(off), &f).unwrap();
        assert_eq!(s("+", "months=1"), "2024-02-29 12:00");
        assert_eq!(s("+", "hours=1.5"), "2024-01-31 13:30");
        assert_eq!(s("-", "days=1, hours=2"), "2024-01-30 10:00");
        assert_eq!(s("+", "years=1, months=1"), "2025-02-28 12:00");
        assert_eq!(s("+", "quarters=1"), "2024-04-30 12:00");
        assert!(shift_fn(&rt, &utc, "+", &Value::from("months=1.5"), &f).is_err());
        assert!(shift_fn(&rt, &utc, "+", &Value::from("fortnights=1"), &f).is_err());
        assert!(shift_fn(&rt, &utc, "+", &Value::from("days"), &f).is_err());
    }
}
