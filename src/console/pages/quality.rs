//! The quality report: score distribution, pass rate by category, the checks failing most, the
//! 30-day trend and forced publishes. Charts are inline SVG (no script) with the same numbers in
//! a table beside each.

use actix_web::web;
use serde::Serialize;

use super::{Ui, page_query};
use crate::console::session::UiResult;
use crate::console::view;
use crate::modules::quality::QualityService;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/quality", web::get().to(report));
}

/// One bar of a horizontal bar chart, in SVG user units (the chart is 300 wide).
#[derive(Debug, Serialize)]
pub struct Bar {
    pub label: String,
    pub value: String,
    pub y: usize,
    pub width: f64,
}

pub const CHART_WIDTH: f64 = 200.0;
const ROW: usize = 18;

pub fn bars(rows: impl IntoIterator<Item = (String, f64, String)>) -> (Vec<Bar>, usize) {
    let rows: Vec<(String, f64, String)> = rows.into_iter().collect();
    let max = rows.iter().map(|r| r.1).fold(0.0_f64, f64::max);
    let bars: Vec<Bar> = rows
        .into_iter()
        .enumerate()
        .map(|(i, (label, v, shown))| Bar {
            label,
            value: shown,
            y: i * ROW,
            width: if max > 0.0 {
                (v / max * CHART_WIDTH).max(0.0)
            } else {
                0.0
            },
        })
        .collect();
    let height = bars.len() * ROW + 4;
    (bars, height)
}

/// The trend as an SVG polyline (0–100 on the y axis, 300×100).
fn trend_points(values: &[f64]) -> String {
    if values.is_empty() {
        return String::new();
    }
    let step = if values.len() > 1 {
        300.0 / (values.len() - 1) as f64
    } else {
        0.0
    };
    values
        .iter()
        .enumerate()
        .map(|(i, v)| format!("{:.1},{:.1}", i as f64 * step, 100.0 - v.clamp(0.0, 100.0)))
        .collect::<Vec<_>>()
        .join(" ")
}

async fn report(ui: Ui<QualityService>) -> UiResult {
    let (session, quality) = (&ui.session, &ui.service);
    let tenant = &session.principal.tenant_id;
    let report = quality.report(tenant).await?;
    let overrides = quality
        .overrides(tenant, None, &page_query(Some(20), Some(0)))
        .await?;
    let (distribution, distribution_h) = bars(
        report
            .distribution
            .iter()
            .map(|b| (b.range.clone(), b.count as f64, b.count.to_string())),
    );
    let (categories, categories_h) = bars(report.by_category.iter().map(|c| {
        (
            c.category.clone(),
            c.pass_rate * 100.0,
            format!("{:.0}%", c.pass_rate * 100.0),
        )
    }));
    let (failing, failing_h) = bars(report.failing_checks.iter().map(|c| {
        (
            c.check.clone(),
            c.failing as f64,
            format!("{} failing, {} warning", c.failing, c.warning),
        )
    }));
    let trend: Vec<f64> = report.trend.iter().map(|t| t.average_score).collect();
    let ctx = ui
        .ctx()
        .set("r", &report)
        .set("distribution", distribution)
        .set("distribution_h", distribution_h)
        .set("categories", categories)
        .set("categories_h", categories_h)
        .set("failing", failing)
        .set("failing_h", failing_h)
        .set("trend_points", trend_points(&trend))
        .set("overrides", &overrides)
        .set("json_url", "/api/v1/quality/report");
    view::ok("quality.html", ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest_value() {
        let (b, h) = bars(vec![
            ("a".into(), 5.0, "5".into()),
            ("b".into(), 10.0, "10".into()),
        ]);
        assert_eq!(b[0].width, CHART_WIDTH / 2.0);
        assert_eq!(b[1].width, CHART_WIDTH);
        assert_eq!(b[1].y, ROW);
        assert_eq!(h, 2 * ROW + 4);
        let (b, _) = bars(vec![("z".into(), 0.0, "0".into())]);
        assert_eq!(b[0].width, 0.0);
    }

    #[test]
    fn trend_spans_the_chart() {
        assert_eq!(trend_points(&[100.0, 0.0]), "0.0,0.0 300.0,100.0");
        assert_eq!(trend_points(&[]), "");
    }
}
