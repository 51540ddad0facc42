//! The gateway's own `/metrics` text read back as numbers, so `/ops` and its alerts see
//! exactly what Prometheus scrapes.

/// One sample: metric name, labels, value.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
}

/// The samples of one rendering of the Prometheus text format.
#[derive(Debug, Clone, Default)]
pub struct Samples {
    samples: Vec<Sample>,
}

impl Samples {
    /// Parses `name{label="value",…} number` lines; comments and unparsable lines are
    /// skipped.
    pub fn parse(text: &str) -> Self {
        let samples = text
            .lines()
            .filter(|line| !line.starts_with('#'))
            .filter_map(parse_line)
            .collect();
        Self { samples }
    }

    /// Sum over the series of `name` whose labels include every pair of `filter`.
    pub fn sum(&self, name: &str, filter: &[(&str, &str)]) -> f64 {
        // Not `Iterator::sum`: its empty f64 sum is -0.0, which a page shows as "-0".
        self.matching(name, filter)
            .fold(0.0, |total, s| total + s.value)
    }

    /// Whether any series of `name` matches `filter`.
    pub fn has(&self, name: &str, filter: &[(&str, &str)]) -> bool {
        self.matching(name, filter).next().is_some()
    }

    /// Values of `label` among the series of `name`, with their values.
    pub fn by_label(&self, name: &str, label: &str) -> Vec<(String, f64)> {
        self.samples
            .iter()
            .filter(|s| s.name == name)
            .filter_map(|s| {
                let value = s.labels.iter().find(|(k, _)| k == label)?.1.clone();
                Some((value, s.value))
            })
            .collect()
    }

    /// The cumulative buckets `(le, count)` of histogram `name`, summed over its other
    /// labels, in increasing `le`.
    pub fn buckets(&self, name: &str) -> Vec<(f64, f64)> {
        let bucket = format!("{name}_bucket");
        let mut buckets: Vec<(f64, f64)> = Vec::new();
        for s in self.samples.iter().filter(|s| s.name == bucket) {
            let Some(le) = s.labels.iter().find(|(k, _)| k == "le") else {
                continue;
            };
            let le = if le.1 == "+Inf" {
                f64::INFINITY
            } else {
                match le.1.parse() {
                    Ok(le) => le,
                    Err(_) => continue,
                }
            };
            match buckets.iter_mut().find(|(b, _)| *b == le) {
                Some((_, count)) => *count += s.value,
                None => buckets.push((le, s.value)),
            }
        }
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        buckets
    }

    fn matching<'a>(
        &'a self,
        name: &'a str,
        filter: &'a [(&'a str, &'a str)],
    ) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples.iter().filter(move |s| {
            s.name == name
                && filter
                    .iter()
                    .all(|(k, v)| s.labels.iter().any(|(lk, lv)| lk == k && lv == v))
        })
    }
}

fn parse_line(line: &str) -> Option<Sample> {
    let line = line.trim();
    let (series, value) = line.rsplit_once(' ')?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    let (name, labels) = match series.split_once('{') {
        Some((name, rest)) => (name, parse_labels(rest.strip_suffix('}')?)?),
        None => (series, Vec::new()),
    };
    Some(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

/// `a="x",b="y"`, with `\"`, `\\` and `\n` escapes in values.
fn parse_labels(mut rest: &str) -> Option<Vec<(String, String)>> {
    let mut labels = Vec::new();
    while !rest.is_empty() {
        let (key, after) = rest.split_once("=\"")?;
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            let (i, c) = chars.next()?;
            match c {
                '\\' => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                '"' => break i,
                c => value.push(c),
            }
        };
        labels.push((key.trim_start_matches(',').to_owned(), value));
        rest = after[end + 1..].trim_start_matches(',');
    }
    Some(labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# TYPE gateway_events_applied_total counter
gateway_events_applied_total{source="sqs"} 7
gateway_events_applied_total{source="http"} 2
gateway_sse_subscribers 3
gateway_fanout_latency_seconds_bucket{le="0.001"} 4
gateway_fanout_latency_seconds_bucket{le="0.01"} 9
gateway_fanout_latency_seconds_bucket{le="+Inf"} 10
gateway_fanout_latency_seconds_sum 0.05
gateway_odd{reason="say \"hi\", ok"} 1
"#;

    #[test]
    fn sums_filter_by_labels() {
        let samples = Samples::parse(TEXT);
        assert_eq!(samples.sum("gateway_events_applied_total", &[]), 9.0);
        assert_eq!(
            samples.sum("gateway_events_applied_total", &[("source", "sqs")]),
            7.0
        );
        assert_eq!(samples.sum("gateway_sse_subscribers", &[]), 3.0);
        assert!(samples.sum("gateway_missing", &[]).is_sign_positive());
        assert!(!samples.has("gateway_missing", &[]));
        assert_eq!(
            samples.by_label("gateway_odd", "reason"),
            vec![(r#"say "hi", ok"#.to_owned(), 1.0)]
        );
    }

    #[test]
    fn histogram_buckets_are_read_in_order() {
        let samples = Samples::parse(TEXT);
        assert_eq!(
            samples.buckets("gateway_fanout_latency_seconds"),
            vec![(0.001, 4.0), (0.01, 9.0), (f64::INFINITY, 10.0)]
        );
    }
}
