//! What Prometheus answered, and whether it can be trusted.
//!
//! Every value slo reads from Prometheus goes through [`validate`]: only a
//! well-formed instant vector whose samples are finite, non-negative numbers,
//! with no more series than the query can produce, counts. Anything else (NaN,
//! ±Inf, a negative count, a matrix, a string, a scalar, two series where a
//! `sum()` can only give one, a body that is not the documented JSON) is
//! [`Untrusted`]: the caller reports it as inconclusive, never as a number.
//!
//! Pure: the HTTP side lives in the `prom` module.

use std::collections::BTreeMap;

/// Longest piece of an answer quoted in a message.
pub const SNIPPET_CHARS: usize = 200;

/// A negative count down to this is floating-point noise (a difference of two
/// increases) and reads as 0; below it the count is wrong.
pub const NEGATIVE_NOISE: f64 = 1e-6;

/// One series of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub labels: BTreeMap<String, String>,
    /// As Prometheus wrote it, parsed ("NaN", "+Inf" and "-Inf" included).
    pub value: f64,
}

/// A successful answer to an instant query, by the API's `resultType`.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Vector(Vec<Series>),
    /// A range vector: how many series it held.
    Matrix(usize),
    Scalar(f64),
    String(String),
    /// `status: success` but not in the documented shape.
    Malformed(String),
}

/// A failed answer: `status: error` in the documented shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub error_type: String,
    pub error: String,
}

/// How many series a query can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// At most one: an aggregation without `by`, like `sum(...)` or `count(...)`.
    Single,
    /// Any number: `count by (le) (...)`.
    Many,
}

/// An answer that must not be read as a number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Prometheus answered {found} to {query}: {problem}")]
pub struct Untrusted {
    /// The query, cut to [`SNIPPET_CHARS`].
    pub query: String,
    /// What came back, cut to [`SNIPPET_CHARS`].
    pub found: String,
    /// Why it does not count, and what to do.
    pub problem: String,
}

/// `text` cut to at most `max` characters, with an ellipsis when cut: the
/// one rule for quoting a user's or a server's text, from `common`.
pub use common::input::cut as snippet;

/// A sample value as Prometheus writes it: a decimal, `NaN`, `+Inf` or `-Inf`.
pub fn parse_value(text: &str) -> Option<f64> {
    match text {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => {
            let t = text.trim_start_matches(['+', '-']);
            // Rust also reads "inf", "infinity" and "nan": Prometheus never writes them.
            if t.is_empty() || !t.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
                None
            } else {
                text.parse().ok()
            }
        }
    }
}

/// Reads the body of `/api/v1/query`. `Err` is Prometheus's own error answer.
pub fn parse(body: &[u8]) -> Result<Answer, Rejected> {
    let malformed = |why: &str| {
        let text = String::from_utf8_lossy(body);
        Answer::Malformed(format!(
            "{why}: {}",
            snippet(text.trim(), SNIPPET_CHARS).replace('\n', " ")
        ))
    };
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Ok(malformed("a body that is not JSON"));
    };
    match v.get("status").and_then(|s| s.as_str()) {
        Some("success") => {}
        Some("error") => {
            return Err(Rejected {
                error_type: v["errorType"].as_str().unwrap_or("unknown").to_owned(),
                error: snippet(v["error"].as_str().unwrap_or(""), SNIPPET_CHARS),
            });
        }
        _ => return Ok(malformed("an answer without status success or error")),
    }
    let data = &v["data"];
    let result = &data["result"];
    Ok(match data["resultType"].as_str() {
        Some("vector") => {
            let Some(items) = result.as_array() else {
                return Ok(malformed("a vector whose result is not a list"));
            };
            let mut series = Vec::with_capacity(items.len());
            for item in items {
                let labels = match item.get("metric") {
                    None => BTreeMap::new(),
                    Some(m) => match m.as_object() {
                        Some(m) => m
                            .iter()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                            .collect(),
                        None => return Ok(malformed("a series whose metric is not an object")),
                    },
                };
                if item.get("histogram").is_some() {
                    return Ok(malformed(
                        "a native histogram sample where a number belongs",
                    ));
                }
                let Some(value) = sample_value(&item["value"]) else {
                    return Ok(malformed("a sample that is not [time, \"number\"]"));
                };
                series.push(Series { labels, value });
            }
            Answer::Vector(series)
        }
        Some("matrix") => match result.as_array() {
            Some(items) => Answer::Matrix(items.len()),
            None => malformed("a matrix whose result is not a list"),
        },
        Some("scalar") => match sample_value(result) {
            Some(v) => Answer::Scalar(v),
            None => malformed("a scalar that is not [time, \"number\"]"),
        },
        Some("string") => match result.get(1).and_then(|s| s.as_str()) {
            Some(s) => Answer::String(s.to_owned()),
            None => malformed("a string that is not [time, \"text\"]"),
        },
        Some(other) => malformed(&format!("an unknown resultType {other:?}")),
        None => malformed("an answer without data.resultType"),
    })
}

/// `[1700000000.1, "12.5"]` to 12.5.
fn sample_value(v: &serde_json::Value) -> Option<f64> {
    let pair = v.as_array().filter(|a| a.len() == 2)?;
    pair[0].as_f64()?;
    parse_value(pair[1].as_str()?)
}

fn describe_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

fn describe_series(s: &Series) -> String {
    let labels: Vec<String> = s.labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}} {}", labels.join(", "), describe_value(s.value))
}

/// The one validation every value read from Prometheus goes through.
///
/// Passes a vector of at most `shape`'s series whose values are finite and
/// not negative (noise down to -[`NEGATIVE_NOISE`] reads as 0). An empty
/// vector passes as empty: whether that means 0 is the caller's to say, from
/// how its query was built.
pub fn validate(query: &str, answer: &Answer, shape: Shape) -> Result<Vec<Series>, Untrusted> {
    let untrusted = |found: String, problem: &str| Untrusted {
        query: snippet(query, SNIPPET_CHARS),
        found: snippet(&found, SNIPPET_CHARS),
        problem: problem.to_owned(),
    };
    let series = match answer {
        Answer::Vector(series) => series,
        Answer::Matrix(n) => {
            return Err(untrusted(
                format!("a range vector (matrix) of {n} series"),
                "an instant vector was expected (is there a [range] without a function around it?)",
            ));
        }
        Answer::Scalar(v) => {
            return Err(untrusted(
                format!("the scalar {}", describe_value(*v)),
                "an instant vector was expected",
            ));
        }
        Answer::String(s) => {
            return Err(untrusted(
                format!("the string {s:?}"),
                "an instant vector was expected",
            ));
        }
        Answer::Malformed(what) => {
            return Err(untrusted(
                what.clone(),
                "not the documented query API JSON (is the URL a Prometheus?)",
            ));
        }
    };
    if shape == Shape::Single && series.len() > 1 {
        let shown: Vec<String> = series.iter().take(3).map(describe_series).collect();
        let more = if series.len() > 3 { ", …" } else { "" };
        return Err(untrusted(
            format!("{} series ({}{more})", series.len(), shown.join("; ")),
            "one number was expected (wrap an events SLI's query in sum(); for slo's own sum() queries, more than one series means the server is not answering as Prometheus does)",
        ));
    }
    let mut out = Vec::with_capacity(series.len());
    for s in series {
        if !s.value.is_finite() {
            return Err(untrusted(
                describe_series(s),
                "a count must be a finite number (NaN is 0/0, Inf a division by 0 in the query or the exporter)",
            ));
        }
        if s.value < -NEGATIVE_NOISE {
            return Err(untrusted(
                describe_series(s),
                "a count cannot be negative (a counter reset the query mishandles, or good events counted above the total)",
            ));
        }
        out.push(Series {
            labels: s.labels.clone(),
            value: s.value.max(0.0),
        });
    }
    Ok(out)
}

/// [`validate`] for a query that gives one number: `None` for an empty vector.
pub fn single(query: &str, answer: &Answer) -> Result<Option<f64>, Untrusted> {
    Ok(validate(query, answer, Shape::Single)?
        .first()
        .map(|s| s.value))
}

#[cfg(test)]
mod tests {
    use super::*;

    const Q: &str = "sum(increase(errors[5m]))";

    fn vector(values: &[&str]) -> Vec<u8> {
        let items: Vec<String> = values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                format!(r#"{{"metric":{{"instance":"i{i}"}},"value":[1700000000.5,"{v}"]}}"#)
            })
            .collect();
        format!(
            r#"{{"status":"success","data":{{"resultType":"vector","result":[{}]}}}}"#,
            items.join(",")
        )
        .into_bytes()
    }

    fn check(body: &[u8]) -> Result<Option<f64>, Untrusted> {
        single(Q, &parse(body).expect("a success answer"))
    }

    #[test]
    fn a_finite_non_negative_single_series_counts() {
        assert_eq!(check(&vector(&["12.5"])), Ok(Some(12.5)));
        assert_eq!(check(&vector(&["0"])), Ok(Some(0.0)));
        assert_eq!(check(&vector(&["1e3"])), Ok(Some(1000.0)));
        assert_eq!(check(&vector(&[])), Ok(None));
    }

    #[test]
    fn nan_is_untrusted() {
        let e = check(&vector(&["NaN"])).unwrap_err();
        assert!(e.found.contains("NaN"), "{e}");
        assert!(e.to_string().contains(Q), "{e}");
    }

    #[test]
    fn positive_infinity_is_untrusted() {
        let e = check(&vector(&["+Inf"])).unwrap_err();
        assert!(e.found.contains("+Inf"), "{e}");
    }

    #[test]
    fn negative_infinity_is_untrusted() {
        let e = check(&vector(&["-Inf"])).unwrap_err();
        assert!(e.found.contains("-Inf"), "{e}");
    }

    #[test]
    fn a_negative_count_is_untrusted_but_noise_reads_as_zero() {
        let e = check(&vector(&["-3"])).unwrap_err();
        assert!(e.problem.contains("negative"), "{e}");
        assert_eq!(check(&vector(&["-1e-12"])), Ok(Some(0.0)));
    }

    #[test]
    fn two_series_where_one_is_possible_is_untrusted() {
        let e = check(&vector(&["0", "900"])).unwrap_err();
        assert!(e.found.starts_with("2 series"), "{e}");
        assert!(e.found.contains("900"), "{e}");
        // count by (le) may give many.
        let many = validate(Q, &parse(&vector(&["0", "900"])).unwrap(), Shape::Many).unwrap();
        assert_eq!(many.len(), 2);
        // Many is still checked value by value.
        assert!(validate(Q, &parse(&vector(&["1", "NaN"])).unwrap(), Shape::Many).is_err());
    }

    #[test]
    fn a_matrix_is_untrusted() {
        let body = br#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"0"],[2,"1"]]}]}}"#;
        let e = check(body).unwrap_err();
        assert!(e.found.contains("matrix"), "{e}");
    }

    #[test]
    fn a_string_is_untrusted() {
        let body =
            br#"{"status":"success","data":{"resultType":"string","result":[1700000000,"0"]}}"#;
        let e = check(body).unwrap_err();
        assert!(e.found.contains("string"), "{e}");
    }

    #[test]
    fn a_scalar_is_untrusted() {
        let body =
            br#"{"status":"success","data":{"resultType":"scalar","result":[1700000000,"0"]}}"#;
        let e = check(body).unwrap_err();
        assert!(e.found.contains("scalar"), "{e}");
    }

    #[test]
    fn bodies_outside_the_documented_shape_are_untrusted() {
        for body in [
            &b"<html>proxy login</html>"[..],
            br#"{"status":"success"}"#,
            br#"{"status":"success","data":{"resultType":"vector","result":{}}}"#,
            br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"abc"]}]}}"#,
            br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"inf"]}]}}"#,
            br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,5]}]}}"#,
            br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"histogram":[1,{}]}]}}"#,
            br#"{"status":"success","data":{"resultType":"exotic","result":[]}}"#,
            br#"{"status":"maybe"}"#,
        ] {
            let answer = parse(body).unwrap();
            assert!(matches!(answer, Answer::Malformed(_)), "{answer:?}");
            assert!(single(Q, &answer).is_err());
        }
    }

    #[test]
    fn an_error_answer_is_rejected() {
        let r = parse(br#"{"status":"error","errorType":"bad_data","error":"parse error"}"#);
        assert_eq!(
            r,
            Err(Rejected {
                error_type: "bad_data".into(),
                error: "parse error".into()
            })
        );
    }

    /// A seeded mutator over well-formed answers: whatever the bytes, parsing
    /// never panics, and a value that passes is a finite, non-negative number.
    #[test]
    fn mutated_answers_never_pass_a_bad_number() {
        let seeds: Vec<Vec<u8>> = vec![
            vector(&["12.5"]),
            vector(&["0", "900"]),
            vector(&["NaN"]),
            br#"{"status":"success","data":{"resultType":"scalar","result":[1,"3"]}}"#.to_vec(),
            br#"{"status":"error","errorType":"bad_data","error":"x"}"#.to_vec(),
        ];
        let alphabet = b"0123456789.-+eE\"[]{},:NaInf \\";
        let mut state: u64 = 0x5eed;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as usize
        };
        for case in 0..3000 {
            let mut body = seeds[case % seeds.len()].clone();
            for _ in 0..1 + next() % 4 {
                let at = next() % body.len().max(1);
                match next() % 3 {
                    0 if !body.is_empty() => {
                        body.remove(at.min(body.len() - 1));
                    }
                    1 => body.insert(at, alphabet[next() % alphabet.len()]),
                    _ if !body.is_empty() => {
                        let i = at.min(body.len() - 1);
                        body[i] = alphabet[next() % alphabet.len()];
                    }
                    _ => {}
                }
            }
            let Ok(answer) = parse(&body) else { continue };
            for shape in [Shape::Single, Shape::Many] {
                if let Ok(series) = validate(Q, &answer, shape) {
                    assert!(shape == Shape::Many || series.len() <= 1);
                    for s in series {
                        assert!(
                            s.value.is_finite() && s.value >= 0.0,
                            "{}",
                            String::from_utf8_lossy(&body)
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn messages_cut_long_answers() {
        let long = "x".repeat(100_000);
        let body = format!(
            r#"{{"status":"success","data":{{"resultType":"string","result":[1,"{long}"]}}}}"#
        );
        let e = check(body.as_bytes()).unwrap_err();
        assert!(
            e.to_string().chars().count() < 3 * SNIPPET_CHARS + Q.len(),
            "{e}"
        );
        assert_eq!(snippet("héllo", 2), "hé…");
        assert_eq!(snippet("ok", 2), "ok");
    }
}
