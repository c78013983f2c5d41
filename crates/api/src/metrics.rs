//! Metric families and their rendering in the Prometheus text exposition
//! format, version 0.0.4 (`text/plain; version=0.0.4`).
//!
//! The backend hands over generic families (counters, gauges, histograms
//! with label pairs); [`render`] writes `# HELP` and `# TYPE` lines, one line
//! per sample, and for histograms the cumulative `_bucket{le="…"}` lines
//! (always ending with `le="+Inf"`), `_sum` and `_count`.
//!
//! Escaping follows the format: in help text `\` and line feeds, in label
//! values also `"`. Names that are not valid metric or label names have every
//! offending character replaced by `_` (and a leading digit prefixed by `_`),
//! so the output always parses. Limitations: no timestamps, no exemplars, no
//! OpenMetrics; families with an empty name are skipped.

use std::fmt::Write;

/// What a metric family measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricKind {
    /// A value that only goes up (resets at restart).
    Counter,
    /// A value that goes up and down.
    Gauge,
    /// Observations counted in buckets.
    Histogram,
}

/// A histogram sample: cumulative bucket counts, the sum and the count.
#[derive(Clone, Debug, PartialEq)]
pub struct HistogramValue {
    /// `(upper bound, observations ≤ bound)`, bounds increasing, counts
    /// cumulative. A `+Inf` bucket is added from `count`; one given here is
    /// ignored.
    pub buckets: Vec<(f64, u64)>,
    /// The sum of all observations.
    pub sum: f64,
    /// How many observations.
    pub count: u64,
}

/// The value of one sample.
#[derive(Clone, Debug, PartialEq)]
pub enum MetricValue {
    /// A counter's or gauge's value.
    Number(f64),
    /// A histogram's buckets.
    Histogram(HistogramValue),
}

/// One sample of a family: its labels and value.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricSample {
    /// `(label name, label value)` pairs, in the order written.
    pub labels: Vec<(String, String)>,
    /// The value; a histogram value in a counter or gauge family (or the
    /// other way round) is written as the family's kind requires.
    pub value: MetricValue,
}

impl MetricSample {
    /// A counter or gauge sample.
    pub fn number(labels: &[(&str, &str)], value: f64) -> MetricSample {
        MetricSample {
            labels: own_labels(labels),
            value: MetricValue::Number(value),
        }
    }

    /// A histogram sample.
    pub fn histogram(labels: &[(&str, &str)], value: HistogramValue) -> MetricSample {
        MetricSample {
            labels: own_labels(labels),
            value: MetricValue::Histogram(value),
        }
    }
}

fn own_labels(labels: &[(&str, &str)]) -> Vec<(String, String)> {
    labels
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect()
}

/// A named metric with its help text, kind and samples.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricFamily {
    /// The metric name, such as `hanse_queries_total`.
    pub name: String,
    /// One line saying what it counts.
    pub help: String,
    /// Counter, gauge or histogram.
    pub kind: MetricKind,
    /// The samples, one per label set.
    pub samples: Vec<MetricSample>,
}

/// The content type of [`render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Writes the families in the text exposition format 0.0.4.
pub fn render(families: &[MetricFamily]) -> String {
    let mut out = String::new();
    for family in families {
        if family.name.is_empty() {
            continue;
        }
        let name = sanitize_name(&family.name, true);
        let kind = match family.kind {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Histogram => "histogram",
        };
        let _ = writeln!(out, "# HELP {name} {}", escape_help(&family.help));
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for sample in &family.samples {
            match (&sample.value, family.kind) {
                (MetricValue::Histogram(histogram), MetricKind::Histogram) => {
                    write_histogram(&mut out, &name, &sample.labels, histogram);
                }
                (MetricValue::Number(value), MetricKind::Histogram) => {
                    // A plain number in a histogram family: one observation total.
                    let histogram = HistogramValue {
                        buckets: Vec::new(),
                        sum: *value,
                        count: 0,
                    };
                    write_histogram(&mut out, &name, &sample.labels, &histogram);
                }
                (MetricValue::Number(value), _) => {
                    write_line(&mut out, &name, "", &sample.labels, None, *value);
                }
                (MetricValue::Histogram(histogram), _) => {
                    write_line(&mut out, &name, "", &sample.labels, None, histogram.sum);
                }
            }
        }
    }
    out
}

fn write_histogram(
    out: &mut String,
    name: &str,
    labels: &[(String, String)],
    value: &HistogramValue,
) {
    for (bound, count) in &value.buckets {
        if bound.is_nan() || bound.is_infinite() && *bound > 0.0 {
            continue;
        }
        let le = format_value(*bound);
        write_line(out, name, "_bucket", labels, Some(&le), *count as f64);
    }
    write_line(
        out,
        name,
        "_bucket",
        labels,
        Some("+Inf"),
        value.count as f64,
    );
    write_line(out, name, "_sum", labels, None, value.sum);
    write_line(out, name, "_count", labels, None, value.count as f64);
}

fn write_line(
    out: &mut String,
    name: &str,
    suffix: &str,
    labels: &[(String, String)],
    le: Option<&str>,
    value: f64,
) {
    out.push_str(name);
    out.push_str(suffix);
    let mut pairs: Vec<(String, String)> = labels
        .iter()
        .filter(|(label, _)| le.is_none() || label != "le")
        .map(|(label, value)| (sanitize_name(label, false), escape_label_value(value)))
        .collect();
    if let Some(le) = le {
        pairs.push(("le".to_owned(), le.to_owned()));
    }
    if !pairs.is_empty() {
        out.push('{');
        for (index, (label, value)) in pairs.iter().enumerate() {
            if index > 0 {
                out.push(',');
            }
            let _ = write!(out, "{label}=\"{value}\"");
        }
        out.push('}');
    }
    out.push(' ');
    out.push_str(&format_value(value));
    out.push('\n');
}

/// A float as the format writes it: `NaN`, `+Inf`, `-Inf`, else Rust's
/// shortest round-trip form (integers without a fraction).
fn format_value(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_owned()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        format!("{value}")
    }
}

/// Metric names match `[a-zA-Z_:][a-zA-Z0-9_:]*`, label names the same without `:`.
fn sanitize_name(name: &str, metric: bool) -> String {
    let mut out = String::with_capacity(name.len() + 1);
    for (index, character) in name.chars().enumerate() {
        let allowed = character.is_ascii_alphabetic()
            || character == '_'
            || (metric && character == ':')
            || (index > 0 && character.is_ascii_digit());
        if allowed {
            out.push(character);
        } else if index == 0 && character.is_ascii_digit() {
            out.push('_');
            out.push(character);
        } else {
            out.push('_');
        }
    }
    if out.is_empty() {
        out.push('_');
    }
    out
}

fn escape_help(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            other => out.push(other),
        }
    }
    out
}

fn escape_label_value(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' => out.push_str("\\\""),
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_with_labels_and_escaped_help() {
        let families = vec![MetricFamily {
            name: "hanse_queries_total".to_owned(),
            help: "Queries\\answered\nby transport".to_owned(),
            kind: MetricKind::Counter,
            samples: vec![
                MetricSample::number(&[("transport", "udp")], 42.0),
                MetricSample::number(&[("transport", "t\"c\\p\n")], 7.0),
            ],
        }];
        assert_eq!(
            render(&families),
            "# HELP hanse_queries_total Queries\\\\answered\\nby transport\n\
             # TYPE hanse_queries_total counter\n\
             hanse_queries_total{transport=\"udp\"} 42\n\
             hanse_queries_total{transport=\"t\\\"c\\\\p\\n\"} 7\n"
        );
    }

    #[test]
    fn gauge_without_labels_and_special_values() {
        let families = vec![MetricFamily {
            name: "hanse_cache_bytes".to_owned(),
            help: String::new(),
            kind: MetricKind::Gauge,
            samples: vec![
                MetricSample::number(&[], 1.5),
                MetricSample::number(&[("x", "nan")], f64::NAN),
                MetricSample::number(&[("x", "inf")], f64::INFINITY),
                MetricSample::number(&[("x", "-inf")], f64::NEG_INFINITY),
            ],
        }];
        assert_eq!(
            render(&families),
            "# HELP hanse_cache_bytes \n# TYPE hanse_cache_bytes gauge\nhanse_cache_bytes 1.5\n\
             hanse_cache_bytes{x=\"nan\"} NaN\nhanse_cache_bytes{x=\"inf\"} +Inf\n\
             hanse_cache_bytes{x=\"-inf\"} -Inf\n"
        );
    }

    #[test]
    fn histogram_buckets_sum_count() {
        let families = vec![MetricFamily {
            name: "hanse_resolution_seconds".to_owned(),
            help: "Resolution time".to_owned(),
            kind: MetricKind::Histogram,
            samples: vec![MetricSample::histogram(
                &[("server", "192.0.2.1")],
                HistogramValue {
                    buckets: vec![(0.005, 3), (0.1, 5), (f64::INFINITY, 99)],
                    sum: 0.25,
                    count: 6,
                },
            )],
        }];
        assert_eq!(
            render(&families),
            "# HELP hanse_resolution_seconds Resolution time\n\
             # TYPE hanse_resolution_seconds histogram\n\
             hanse_resolution_seconds_bucket{server=\"192.0.2.1\",le=\"0.005\"} 3\n\
             hanse_resolution_seconds_bucket{server=\"192.0.2.1\",le=\"0.1\"} 5\n\
             hanse_resolution_seconds_bucket{server=\"192.0.2.1\",le=\"+Inf\"} 6\n\
             hanse_resolution_seconds_sum{server=\"192.0.2.1\"} 0.25\n\
             hanse_resolution_seconds_count{server=\"192.0.2.1\"} 6\n"
        );
    }

    #[test]
    fn invalid_names_are_replaced() {
        let families = vec![
            MetricFamily {
                name: "9bad-name:x".to_owned(),
                help: "h".to_owned(),
                kind: MetricKind::Gauge,
                samples: vec![MetricSample::number(
                    &[("bad label", "v"), ("a:b", "w")],
                    1.0,
                )],
            },
            MetricFamily {
                name: String::new(),
                help: "skipped".to_owned(),
                kind: MetricKind::Gauge,
                samples: vec![MetricSample::number(&[], 1.0)],
            },
        ];
        assert_eq!(
            render(&families),
            "# HELP _9bad_name:x h\n# TYPE _9bad_name:x gauge\n_9bad_name:x{bad_label=\"v\",a_b=\"w\"} 1\n"
        );
    }
}
