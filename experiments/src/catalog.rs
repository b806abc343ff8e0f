//! `peerlab spec list`: the bundled specs in `experiments/specs`, each with
//! a one-line description, what it reproduces and what it runs.
//!
//! The description is the spec's `[run] description`, or else the first line
//! of its leading comment. What it reproduces is the leading comment's
//! paragraph that starts with `Reproduces:` (up to the next empty comment
//! line). Each spec is also parsed, so a broken bundled spec shows up here.

use crate::error::Error;
use crate::run::churn_kind;
use crate::spec::Spec;
use std::path::{Path, PathBuf};

/// Where the bundled specs live (the source tree of this crate).
pub const BUNDLED_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/specs");

/// One spec file, as `peerlab spec list` describes it.
#[derive(Clone, Debug, PartialEq)]
pub struct SpecEntry {
    /// The file.
    pub path: PathBuf,
    /// One line saying what it runs.
    pub description: String,
    /// What it reproduces, with the source (empty when the spec says nothing).
    pub reproduces: String,
    /// Nodes, scenario, protocols and routing, or why the spec is invalid.
    pub runs: Result<String, String>,
}

/// The leading comment block of a spec, without the `#` markers.
fn leading_comment(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim_start)
        .take_while(|l| l.starts_with('#'))
        .map(|l| {
            let l = l.trim_start_matches('#');
            l.strip_prefix(' ').unwrap_or(l).trim_end().to_string()
        })
        .collect()
}

/// The `Reproduces:` paragraph of a leading comment, joined into one line.
fn reproduces(comment: &[String]) -> String {
    let Some(start) = comment
        .iter()
        .position(|l| l.trim_start().starts_with("Reproduces:"))
    else {
        return String::new();
    };
    let mut parts = Vec::new();
    for (i, l) in comment[start..].iter().enumerate() {
        let l = l.trim();
        if l.is_empty() {
            break;
        }
        parts.push(if i == 0 {
            l.trim_start_matches("Reproduces:").trim()
        } else {
            l
        });
    }
    parts.join(" ")
}

/// What a valid spec runs, in a few words.
fn runs(spec: &Spec) -> String {
    let mut s = if let Some(calls) = &spec.calls {
        calls.describe()
    } else {
        let mut s = match &spec.churn {
            None => format!("{} nodes, static", spec.network.nodes),
            Some(c) if c.nodes > 0 => {
                format!("{} nodes, {} churn", c.nodes, churn_kind(&c.model))
            }
            Some(c) => format!("{} churn", churn_kind(&c.model)),
        };
        let names: Vec<&str> = spec.protocols().iter().map(|p| p.name()).collect();
        s += &format!(", {}", names.join(" vs "));
        s += &format!(", {} routing", spec.routing_resolved());
        s
    };
    if let Some(sweep) = &spec.sweep {
        let points: usize = sweep.axes.iter().map(|a| a.values.len()).product();
        let paths: Vec<&str> = sweep.axes.iter().map(|a| a.path.as_str()).collect();
        s += &format!(
            "; sweep of {points} points × {} replications",
            sweep.replications
        );
        if !paths.is_empty() {
            s += &format!(" over {}", paths.join(", "));
        }
    }
    s
}

/// Describes one spec file.
pub fn describe(path: &Path) -> Result<SpecEntry, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::SpecRead {
        path: path.to_path_buf(),
        source,
    })?;
    let comment = leading_comment(&text);
    let parsed = Spec::parse(&text, path);
    let description = match &parsed {
        Ok(s) if !s.run.description.is_empty() => s.run.description.clone(),
        _ => comment
            .iter()
            .find(|l| !l.trim().is_empty())
            .cloned()
            .unwrap_or_default(),
    };
    Ok(SpecEntry {
        path: path.to_path_buf(),
        description,
        reproduces: reproduces(&comment),
        runs: parsed.map(|s| runs(&s)).map_err(|e| e.to_string()),
    })
}

/// Every `*.toml` in `dir`, by file name.
pub fn list(dir: &Path) -> Result<Vec<SpecEntry>, Error> {
    let rd = std::fs::read_dir(dir)
        .map_err(|e| Error::Other(format!("cannot list specs in {}: {e}", dir.display())))?;
    let mut paths: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml") && p.is_file())
        .collect();
    paths.sort();
    paths.iter().map(|p| describe(p)).collect()
}

/// `path` relative to the working directory when it lies below it.
fn shown(path: &Path) -> PathBuf {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| path.to_path_buf())
}

/// The text `peerlab spec list` prints.
pub fn render(entries: &[SpecEntry]) -> String {
    let mut s = String::new();
    for e in entries {
        s += &format!("{}\n", shown(&e.path).display());
        s += &format!("    what        {}\n", e.description);
        if !e.reproduces.is_empty() {
            s += &format!("    reproduces  {}\n", e.reproduces);
        }
        match &e.runs {
            Ok(r) => s += &format!("    runs        {r}\n"),
            Err(err) => s += &format!("    INVALID     {}\n", err.replace('\n', " ")),
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comment_description_and_reproduces_paragraph() {
        let text = "# Title line.\n#\n# More text.\n# Reproduces: Li et al.,\n#   IPTPS 2004.\n#\n# After.\n[run]\nseed = 2\n";
        let c = leading_comment(text);
        assert_eq!(c[0], "Title line.");
        assert_eq!(reproduces(&c), "Li et al., IPTPS 2004.");
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.toml");
        std::fs::write(&p, text).unwrap();
        let e = describe(&p).unwrap();
        assert_eq!(e.description, "Title line.");
        assert_eq!(
            e.runs.as_deref(),
            Ok("1000 nodes, static, kademlia, parallel-iterative routing")
        );
        std::fs::write(
            &p,
            "# Comment.\n[run]\ndescription = \"From the field\"\n[dht]\nprotocol = [\"chord\", \"kademlia\"]\n",
        )
        .unwrap();
        let e = describe(&p).unwrap();
        assert_eq!(e.description, "From the field");
        let runs = e.runs.unwrap();
        assert!(runs.contains("chord vs kademlia"), "{runs}");
        assert!(
            runs.contains("chord iterative, kademlia parallel-iterative routing"),
            "{runs}"
        );
        std::fs::write(
            &p,
            "# A sweep.\n[sweep]\nreplications = 2\n\"dht.kademlia.k\" = [4, 8]\n\"network.nodes\" = [10, 20, 30]\n",
        )
        .unwrap();
        assert_eq!(
            describe(&p).unwrap().runs.as_deref(),
            Ok(
                "1000 nodes, static, kademlia, parallel-iterative routing; sweep of 6 points × 2 \
                replications over dht.kademlia.k, network.nodes"
            )
        );
        std::fs::write(&p, "# Broken.\n[network]\nnodes = 0\n").unwrap();
        let e = describe(&p).unwrap();
        assert!(e.runs.unwrap_err().contains("network.nodes"));
    }
}
