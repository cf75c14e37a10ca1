//! Record templates for the generator: literal text with random fields in `{{...}}`.
//!
//! | field | value |
//! | --- | --- |
//! | `{{uuid}}` | a random UUID v4 |
//! | `{{int A B}}` | a random integer in `A..=B` |
//! | `{{float A B}}` | a random number in `A..B`, two decimals |
//! | `{{pick "a" "b" ...}}` | one of the quoted strings (`\"` and `\\` escape) |
//! | `{{timestamp}}` | the current UTC time, RFC 3339 with milliseconds |
//! | `{{seq}}` | the record's number, from 0 |
//!
//! ```
//! use rill_agent::template::Template;
//! let t = Template::parse(r#"{"id":{{seq}},"n":{{int 5 5}},"side":"{{pick "buy"}}"}"#)?;
//! assert_eq!(t.render(7, &mut rand::rng()), r#"{"id":7,"n":5,"side":"buy"}"#);
//! # Ok::<(), rill_agent::template::TemplateError>(())
//! ```

use rand::Rng;
use std::fmt::Write as _;

/// A template that does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError(pub String);

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "template: {}", self.0)
    }
}

impl std::error::Error for TemplateError {}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Lit(String),
    Uuid,
    Int(i64, i64),
    Float(f64, f64),
    Pick(Vec<String>),
    Timestamp,
    Seq,
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
}

fn err(msg: impl Into<String>) -> TemplateError {
    TemplateError(msg.into())
}

/// Splits a field's inside into words; quoted words may hold spaces and escapes.
fn words(inner: &str) -> Result<Vec<(String, bool)>, TemplateError> {
    let mut out = Vec::new();
    let mut chars = inner.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '"' {
            chars.next();
            let mut s = String::new();
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some(e) => s.push(e),
                        None => return Err(err(format!("unterminated string in {{{{{inner}}}}}"))),
                    },
                    Some(c) => s.push(c),
                    None => return Err(err(format!("unterminated string in {{{{{inner}}}}}"))),
                }
            }
            out.push((s, true));
        } else {
            let mut s = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                s.push(c);
                chars.next();
            }
            out.push((s, false));
        }
    }
    Ok(out)
}

fn field(inner: &str) -> Result<Part, TemplateError> {
    let w = words(inner)?;
    let Some(((name, false), args)) = w.split_first() else {
        return Err(err(format!(
            "empty or quoted field name in {{{{{inner}}}}}"
        )));
    };
    let nums = |n: usize| -> Result<Vec<&str>, TemplateError> {
        if args.len() != n || args.iter().any(|(_, q)| *q) {
            return Err(err(format!("{{{{{inner}}}}}: {name} takes {n} numbers")));
        }
        Ok(args.iter().map(|(s, _)| s.as_str()).collect())
    };
    match name.as_str() {
        "uuid" | "timestamp" | "seq" => {
            nums(0)?;
            Ok(match name.as_str() {
                "uuid" => Part::Uuid,
                "timestamp" => Part::Timestamp,
                _ => Part::Seq,
            })
        }
        "int" => {
            let a = nums(2)?;
            let parse = |s: &str| {
                s.parse::<i64>()
                    .map_err(|_| err(format!("{{{{{inner}}}}}: {s:?} is not an integer")))
            };
            let (lo, hi) = (parse(a[0])?, parse(a[1])?);
            if lo > hi {
                return Err(err(format!("{{{{{inner}}}}}: {lo} > {hi}")));
            }
            Ok(Part::Int(lo, hi))
        }
        "float" => {
            let a = nums(2)?;
            let parse = |s: &str| {
                s.parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| err(format!("{{{{{inner}}}}}: {s:?} is not a number")))
            };
            let (lo, hi) = (parse(a[0])?, parse(a[1])?);
            if lo > hi {
                return Err(err(format!("{{{{{inner}}}}}: {lo} > {hi}")));
            }
            Ok(Part::Float(lo, hi))
        }
        "pick" => {
            if args.is_empty() || args.iter().any(|(_, q)| !*q) {
                return Err(err(format!("{{{{{inner}}}}}: pick takes quoted strings")));
            }
            Ok(Part::Pick(args.iter().map(|(s, _)| s.clone()).collect()))
        }
        other => Err(err(format!("unknown field {other:?}"))),
    }
}

impl Template {
    /// Parses a template.
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                parts.push(Part::Lit(rest[..start].to_owned()));
            }
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .ok_or_else(|| err(format!("unclosed {{{{ at {:?}", &rest[start..])))?;
            parts.push(field(&after[..end])?);
            rest = &after[end + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Lit(rest.to_owned()));
        }
        Ok(Template { parts })
    }

    /// Renders record number `seq`.
    pub fn render(&self, seq: u64, rng: &mut impl Rng) -> String {
        let mut out = String::new();
        for part in &self.parts {
            // Writing to a String cannot fail.
            let _ = match part {
                Part::Lit(s) => {
                    out.push_str(s);
                    Ok(())
                }
                Part::Uuid => write!(out, "{}", uuid::Uuid::new_v4()),
                Part::Int(lo, hi) => write!(out, "{}", rng.random_range(*lo..=*hi)),
                Part::Float(lo, hi) => {
                    let v = if lo < hi {
                        rng.random_range(*lo..*hi)
                    } else {
                        *lo
                    };
                    write!(out, "{v:.2}")
                }
                Part::Pick(choices) => {
                    out.push_str(&choices[rng.random_range(0..choices.len())]);
                    Ok(())
                }
                Part::Timestamp => {
                    out.push_str(&rfc3339_now());
                    Ok(())
                }
                Part::Seq => write!(out, "{seq}"),
            };
        }
        out
    }
}

/// The current UTC time as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn rfc3339_now() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    rfc3339(ms)
}

/// `ms` since the Unix epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn rfc3339(ms: i64) -> String {
    rill_engine::api::dates::rfc3339(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_render_in_range() -> Result<(), TemplateError> {
        let t = Template::parse(
            r#"{{uuid}}|{{int -3 3}}|{{float 1 2}}|{{pick "a b" "c\"d"}}|{{timestamp}}|{{seq}}"#,
        )?;
        let mut rng = rand::rng();
        for seq in 0..200 {
            let s = t.render(seq, &mut rng);
            let f: Vec<&str> = s.split('|').collect();
            assert_eq!(f.len(), 6, "{s}");
            assert!(uuid::Uuid::parse_str(f[0]).is_ok());
            let i: i64 = f[1].parse().map_err(|_| err("int"))?;
            assert!((-3..=3).contains(&i));
            let x: f64 = f[2].parse().map_err(|_| err("float"))?;
            assert!((1.0..=2.0).contains(&x));
            assert!(f[3] == "a b" || f[3] == "c\"d");
            assert_eq!(f[4].len(), 24);
            assert_eq!(f[5], seq.to_string());
        }
        Ok(())
    }

    #[test]
    fn bad_templates() {
        for bad in [
            "{{nope}}",
            "{{int 1}}",
            "{{int 3 1}}",
            "{{pick a}}",
            "{{uuid",
            "{{pick \"a}}",
        ] {
            assert!(Template::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(rfc3339(1_700_000_000_000), "2023-11-14T22:13:20.000Z");
    }
}
