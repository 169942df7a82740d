//! Resource quantities ("500m", "1", "128Mi", "1G", "1e3") in milli-units, and their canonical
//! text as the API server prints it in quota messages.

/// Parses a quantity into thousandths of a unit; None when it is not a quantity.
pub fn parse_milli(q: &str) -> Option<i128> {
    let q = q.trim();
    if q.is_empty() {
        return None;
    }
    let split = q
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(q.len());
    let (num, suffix) = q.split_at(split);
    let (num, exp): (&str, i32) = match suffix.strip_prefix(['e', 'E']) {
        Some(e) if !e.is_empty() => (num, e.parse().ok()?),
        _ => (num, 0),
    };
    let suffix = if exp != 0 { "" } else { suffix };
    let base: f64 = num.parse().ok()?;
    let mult: f64 = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024f64,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        _ => return None,
    };
    let milli = base * mult * 10f64.powi(exp) * 1000.0;
    // Kubernetes rounds fractional milli-units up.
    Some(milli.ceil() as i128)
}

/// The canonical text for a milli-unit amount of `resource` (cpu in cores or millicores,
/// everything else in binary or decimal suffixes or plain units).
pub fn format_milli(resource: &str, milli: i128) -> String {
    if milli == 0 {
        return "0".into();
    }
    if milli % 1000 != 0 {
        return format!("{milli}m");
    }
    let units = milli / 1000;
    if resource.contains("cpu") || resource == "pods" || resource.starts_with("count/") {
        return units.to_string();
    }
    for (suffix, size) in [
        ("Ei", 1i128 << 60),
        ("Pi", 1 << 50),
        ("Ti", 1 << 40),
        ("Gi", 1 << 30),
        ("Mi", 1 << 20),
        ("Ki", 1 << 10),
    ] {
        if units % size == 0 {
            return format!("{}{suffix}", units / size);
        }
    }
    for (suffix, size) in [
        ("E", 1_000_000_000_000_000_000i128),
        ("P", 1_000_000_000_000_000),
        ("T", 1_000_000_000_000),
        ("G", 1_000_000_000),
        ("M", 1_000_000),
        ("k", 1_000),
    ] {
        if units % size == 0 {
            return format!("{}{suffix}", units / size);
        }
    }
    units.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats_quantities() {
        assert_eq!(parse_milli("500m"), Some(500));
        assert_eq!(parse_milli("2"), Some(2000));
        assert_eq!(parse_milli("0.5"), Some(500));
        assert_eq!(parse_milli("128Mi"), Some(128 * 1024 * 1024 * 1000));
        assert_eq!(parse_milli("1G"), Some(1_000_000_000_000));
        assert_eq!(parse_milli("1e3"), Some(1_000_000));
        assert_eq!(parse_milli("lots"), None);
        assert_eq!(format_milli("limits.cpu", 1500), "1500m");
        assert_eq!(format_milli("limits.cpu", 2000), "2");
        assert_eq!(
            format_milli("limits.memory", 512 * 1024 * 1024 * 1000),
            "512Mi"
        );
        assert_eq!(format_milli("requests.memory", 1_000_000_000_000), "1G");
        assert_eq!(format_milli("limits.memory", 0), "0");
    }
}
