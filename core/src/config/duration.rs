//! Durations in configuration files: whole numbers with a unit (`"30s"`, `"100ms"`).

/// Serde format of durations: a string of a whole number and a unit (`"30s"`, `"100ms"`).
pub(super) mod duration_serde {
    use std::fmt;
    use std::time::Duration;

    use serde::de::{self, MapAccess, Visitor};
    use serde::{Deserializer, Serializer};

    const NANOS_PER_SEC: u128 = 1_000_000_000;
    const UNITS: [(&str, u128); 8] = [
        ("ns", 1),
        ("us", 1_000),
        ("µs", 1_000),
        ("ms", 1_000_000),
        ("s", NANOS_PER_SEC),
        ("m", 60 * NANOS_PER_SEC),
        ("min", 60 * NANOS_PER_SEC),
        ("h", 3600 * NANOS_PER_SEC),
    ];

    pub(crate) fn serialize<S: Serializer>(
        value: &Duration,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format(*value))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Duration, D::Error> {
        deserializer.deserialize_any(DurationVisitor)
    }

    /// The largest of s, ms, us and ns that expresses the duration exactly.
    pub(crate) fn format(value: Duration) -> String {
        let nanos = value.as_nanos();
        if nanos == 0 {
            return "0s".to_string();
        }
        for (unit, size) in [("s", NANOS_PER_SEC), ("ms", 1_000_000), ("us", 1_000)] {
            if nanos.is_multiple_of(size) {
                return format!("{}{unit}", nanos / size);
            }
        }
        format!("{nanos}ns")
    }

    pub(crate) fn parse(text: &str) -> Result<Duration, String> {
        let text = text.trim();
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (digits, unit) = (&text[..split], text[split..].trim());
        if digits.is_empty() {
            return Err(format!(
                "invalid duration \"{text}\": expected a whole number and a unit, such as \"30s\""
            ));
        }
        let size = UNITS
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|(_, size)| *size)
            .ok_or_else(|| {
                format!("invalid duration \"{text}\": unit must be one of ns, us, ms, s, m, h")
            })?;
        let too_large = || format!("duration \"{text}\" is too large");
        let count: u128 = digits.parse().map_err(|_| too_large())?;
        let nanos = count.checked_mul(size).ok_or_else(too_large)?;
        let secs = u64::try_from(nanos / NANOS_PER_SEC).map_err(|_| too_large())?;
        let subsec = u32::try_from(nanos % NANOS_PER_SEC).map_err(|_| too_large())?;
        Ok(Duration::new(secs, subsec))
    }

    struct DurationVisitor;

    impl<'de> Visitor<'de> for DurationVisitor {
        type Value = Duration;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a duration string with a unit, such as \"30s\" or \"100ms\"")
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
            parse(v).map_err(E::custom)
        }

        // Serde's own representation of `Duration`, accepted for compatibility.
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Duration, A::Error> {
            let (mut secs, mut nanos) = (None, None);
            while let Some(key) = map.next_key::<String>()? {
                match key.as_str() {
                    "secs" => secs = Some(map.next_value::<u64>()?),
                    "nanos" => nanos = Some(map.next_value::<u32>()?),
                    other => return Err(de::Error::unknown_field(other, &["secs", "nanos"])),
                }
            }
            let secs = secs.ok_or_else(|| de::Error::missing_field("secs"))?;
            let nanos = nanos.unwrap_or(0);
            if nanos >= 1_000_000_000 {
                return Err(de::Error::custom("nanos must be below 1000000000"));
            }
            Ok(Duration::new(secs, nanos))
        }
    }
}
