//! `report.html`: one self-contained page per result directory.
//!
//! Every figure is inlined as a base64 PNG (`data:` URL), so the page opens
//! from disk in any browser, with no server, no scripts and no external
//! resources. Below the figures: `summary.csv` as a table, the resolved spec
//! (`spec.toml`, else the manifest's spec) and `manifest.json`. The page has
//! no timestamp, so the same results give the same bytes.

use crate::error::Error;
use crate::figures::Figure;
use crate::output::write_bytes_atomic;
use crate::results::ResultDir;

/// File name of the report in a result directory.
pub const REPORT: &str = "report.html";

/// Standard base64 (RFC 4648, with padding).
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:'DejaVu Sans',Helvetica,Arial,sans-serif;margin:2em auto;\
max-width:1000px;padding:0 1em;color:#222}\
h1{font-size:1.6em}h2{font-size:1.25em;margin-top:2em;border-bottom:1px solid #ccc}\
figure{margin:1.5em 0}img{max-width:100%;height:auto;border:1px solid #eee}\
figcaption{font-size:.9em;color:#555}\
table{border-collapse:collapse;font-size:.85em}td,th{border:1px solid #ddd;padding:2px 6px}\
td.n{text-align:right;font-variant-numeric:tabular-nums}th{background:#f4f4f4}\
pre{background:#f7f7f7;padding:1em;overflow-x:auto;font-size:.8em}";

/// Writes `DIR/report.html` for the result directory `rd` and its figures
/// (already drawn into `DIR/plots/`), atomically.
pub fn write(rd: &ResultDir, figures: &[Figure]) -> Result<(), Error> {
    let name = rd
        .spec
        .as_ref()
        .map(|s| s.run.name.clone())
        .unwrap_or_else(|| {
            rd.dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "results".into())
        });
    let mut h = String::new();
    h += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
    h += &format!("<title>peerlab report: {}</title>\n", escape(&name));
    h += &format!("<style>{STYLE}</style>\n</head>\n<body>\n");
    h += &format!("<h1>peerlab report: {}</h1>\n", escape(&name));
    if let Some(d) = rd
        .spec
        .as_ref()
        .map(|s| &s.run.description)
        .filter(|d| !d.is_empty())
    {
        h += &format!("<p>{}</p>\n", escape(d));
    }
    h += "<p>Generated from the stored tables of this directory; \
          <code>peerlab plot DIR</code> regenerates it. Vector versions of the \
          figures are in <code>plots/*.svg</code>.</p>\n";
    h += "<ul>\n<li><a href=\"#figures\">Figures</a></li>\n\
          <li><a href=\"#summary\">Summary</a></li>\n\
          <li><a href=\"#spec\">Resolved spec</a></li>\n\
          <li><a href=\"#manifest\">Manifest</a></li>\n</ul>\n";

    h += "<h2 id=\"figures\">Figures</h2>\n";
    if figures.is_empty() {
        h += "<p>No figure applies to the data in this directory.</p>\n";
    }
    for f in figures {
        let path = rd.dir.join("plots").join(format!("{}.png", f.name));
        let png = std::fs::read(&path).map_err(|e| Error::ResultRead {
            path: path.clone(),
            message: e.to_string(),
        })?;
        h += &format!(
            "<figure id=\"fig-{n}\">\n<img alt=\"{t}\" src=\"data:image/png;base64,{b}\">\n\
             <figcaption><code>plots/{n}.svg</code> ({k}): {t}</figcaption>\n</figure>\n",
            n = escape(&f.name),
            t = escape(f.title()),
            k = f.kind.name(),
            b = base64(&png),
        );
    }

    h += "<h2 id=\"summary\">Summary</h2>\n";
    if rd.summary.header.iter().any(|h| h == "metric") {
        h += "<p><code>summary.csv</code>: mean, standard deviation, n and the half-width \
              of the 95% confidence interval (Student t).</p>\n";
    } else {
        h += "<p><code>summary.csv</code>: one row per variant; success intervals are \
              Wilson 95% intervals.</p>\n";
    }
    h += "<table>\n<thead><tr>";
    for c in &rd.summary.header {
        h += &format!("<th>{}</th>", escape(c));
    }
    h += "</tr></thead>\n<tbody>\n";
    for line in rd
        .summary_text
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
    {
        h += "<tr>";
        for cell in crate::results::csv_fields(line) {
            let numeric = cell.parse::<f64>().is_ok();
            h += &format!(
                "<td{}>{}</td>",
                if numeric { " class=\"n\"" } else { "" },
                escape(&cell)
            );
        }
        h += "</tr>\n";
    }
    h += "</tbody>\n</table>\n";

    h += "<h2 id=\"spec\">Resolved spec</h2>\n";
    let spec_text = match (&rd.spec_text, &rd.spec) {
        (Some(t), _) => Some(t.clone()),
        (None, Some(s)) => s.to_toml().ok(),
        (None, None) => None,
    };
    match spec_text {
        Some(t) => h += &format!("<pre>{}</pre>\n", escape(&t)),
        None => h += "<p>No <code>spec.toml</code> or manifest in this directory.</p>\n",
    }
    h += "<h2 id=\"manifest\">Manifest</h2>\n";
    match &rd.manifest_text {
        Some(t) => h += &format!("<pre>{}</pre>\n", escape(t)),
        None => h += "<p>No <code>manifest.json</code> in this directory.</p>\n",
    }
    h += "</body>\n</html>\n";
    write_bytes_atomic(&rd.dir.join(REPORT), h.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (raw, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(raw.as_bytes()), enc, "{raw}");
        }
        assert_eq!(base64(&[0xFF, 0xFE, 0xFD]), "//79");
    }

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
