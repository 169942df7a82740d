//! Ranking for text search. SQL narrows the candidates (tenant, category, tags, quality, every
//! word somewhere in the search text); this ranks them: a word in the name counts most, then a
//! tag, then the description and author. Ties go to the better-scored, then the name.

use super::model::TemplateSummary;
use super::store::SummaryRow;

/// Relevance of one template for the query words (all lowercase).
pub fn score(row: &SummaryRow, tags: &[String], terms: &[String]) -> f64 {
    let name = row.name.to_lowercase();
    let description = row.description.to_lowercase();
    let author = row.author.to_lowercase();
    let name_words: Vec<&str> = name
        .split(['-', '_', ' '])
        .filter(|w| !w.is_empty())
        .collect();
    let mut total = 0.0;
    for term in terms {
        let mut best: f64 = 0.0;
        if name == *term {
            best = best.max(10.0);
        } else if name_words.iter().any(|w| w == term) {
            best = best.max(7.0);
        } else if name.starts_with(term.as_str()) {
            best = best.max(6.0);
        } else if name.contains(term.as_str()) {
            best = best.max(4.0);
        }
        if tags.iter().any(|t| t == term) {
            best = best.max(5.0);
        } else if tags.iter().any(|t| t.contains(term.as_str())) {
            best = best.max(2.5);
        }
        if description
            .split(|c: char| !c.is_alphanumeric())
            .any(|w| w == term)
        {
            best = best.max(2.0);
        } else if description.contains(term.as_str()) {
            best = best.max(1.0);
        }
        if author.contains(term.as_str()) {
            best = best.max(1.0);
        }
        total += best;
    }
    // A small nudge towards better templates; never enough to beat a better text match.
    total + row.quality_score.unwrap_or(0.0) / 1000.0
}

/// Ranks candidates, best first.
pub fn rank(rows: Vec<SummaryRow>, terms: &[String]) -> Vec<TemplateSummary> {
    let mut scored: Vec<(f64, TemplateSummary)> = rows
        .into_iter()
        .map(|row| {
            let tags = super::model::parse_tags(&row.tags);
            let s = score(&row, &tags, terms);
            let mut summary = TemplateSummary::from(row);
            summary.relevance = Some((s * 1000.0).round() / 1000.0);
            (s, summary)
        })
        .collect();
    scored.sort_by(|a, b| {
        b.0.partial_cmp(&a.0)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.1.name.cmp(&b.1.name))
    });
    scored.into_iter().map(|(_, s)| s).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn row(name: &str, description: &str, tags: &[&str]) -> SummaryRow {
        let now = chrono::Utc::now().naive_utc();
        SummaryRow {
            id: name.into(),
            name: name.into(),
            category: "backend_developer".into(),
            version: "1.0.0".into(),
            description: description.into(),
            author: "Platform Team".into(),
            tags: serde_json::to_string(tags).unwrap(),
            format: "native".into(),
            search_text: String::new(),
            file_count: 1,
            size_bytes: 1,
            has_hooks: false,
            quality_score: None,
            current_commit: "0".repeat(40),
            created_by: "a".into(),
            updated_by: "a".into(),
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn name_matches_beat_tag_and_description_matches() {
        let rows = vec![
            row(
                "react-dashboard",
                "Admin UI that talks to a fastapi backend",
                &["react"],
            ),
            row("python-worker", "Queue worker", &["fastapi", "python"]),
            row("fastapi-service", "HTTP API", &["python"]),
        ];
        let ranked = rank(rows, &["fastapi".to_string()]);
        let names: Vec<&str> = ranked.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            vec!["fastapi-service", "python-worker", "react-dashboard"]
        );
        assert!(ranked[0].relevance > ranked[1].relevance);
    }
}
