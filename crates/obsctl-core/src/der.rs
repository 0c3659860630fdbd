//! Just enough DER to read an X.509 certificate's `notAfter`, for the TLS expiry check.

use crate::time::Timestamp;

/// Reads one TLV at `pos`; returns (tag, content range end, content start).
fn tlv(data: &[u8], pos: usize) -> Option<(u8, usize, usize)> {
    let tag = *data.get(pos)?;
    let first = *data.get(pos + 1)? as usize;
    let (len, start) = if first < 0x80 {
        (first, pos + 2)
    } else {
        let n = first & 0x7f;
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | *data.get(pos + 2 + i)? as usize;
        }
        (len, pos + 2 + n)
    };
    let end = start.checked_add(len)?;
    (end <= data.len()).then_some((tag, end, start))
}

/// The `notAfter` of a DER-encoded certificate.
pub fn cert_not_after(cert: &[u8]) -> Option<Timestamp> {
    let (_, _, cert_body) = tlv(cert, 0)?; // Certificate SEQUENCE
    let (_, _, mut pos) = tlv(cert, cert_body)?; // TBSCertificate SEQUENCE
    if cert.get(pos) == Some(&0xa0) {
        pos = tlv(cert, pos)?.1; // [0] version
    }
    pos = tlv(cert, pos)?.1; // serialNumber
    pos = tlv(cert, pos)?.1; // signature AlgorithmIdentifier
    pos = tlv(cert, pos)?.1; // issuer
    let (_, _, validity) = tlv(cert, pos)?; // Validity SEQUENCE
    let not_before_end = tlv(cert, validity)?.1;
    let (tag, end, start) = tlv(cert, not_before_end)?;
    parse_time(tag, std::str::from_utf8(&cert[start..end]).ok()?)
}

/// UTCTime (`YYMMDDHHMMSSZ`, tag 0x17) or GeneralizedTime (`YYYYMMDDHHMMSSZ`, tag 0x18).
fn parse_time(tag: u8, text: &str) -> Option<Timestamp> {
    let digits = text.strip_suffix('Z')?;
    let (year, rest) = match tag {
        0x17 => {
            let yy: i64 = digits.get(0..2)?.parse().ok()?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, digits.get(2..)?)
        }
        0x18 => (digits.get(0..4)?.parse().ok()?, digits.get(4..)?),
        _ => return None,
    };
    let field = |i: usize| -> Option<i64> { rest.get(i..i + 2)?.parse().ok() };
    let (month, day, hour, min, sec) = (field(0)?, field(2)?, field(4)?, field(6)?, field(8)?);
    let days = days_from_civil(year, month, day);
    Some(Timestamp((days * 86_400 + hour * 3600 + min * 60 + sec) * 1000))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(parse_time(0x17, "700101000000Z"), Some(Timestamp(0)));
        assert_eq!(parse_time(0x18, "20261128070416Z").map(|t| t.rfc3339()), Some("2026-11-28T07:04:16Z".into()));
        assert_eq!(parse_time(0x17, "garbage"), None);
    }

    #[test]
    fn truncated_input_is_none_not_a_panic() {
        assert_eq!(cert_not_after(&[]), None);
        assert_eq!(cert_not_after(&[0x30, 0x82, 0xff]), None);
        assert_eq!(cert_not_after(&[0x30, 0x03, 0x30, 0x01]), None);
    }
}
