//! `report.html` renders in a real browser: headless Chromium loads the
//! page from disk (no server), and every image decodes to the figure size.
//!
//! The test skips, loudly, when no Chromium is installed, unless
//! `PEERLAB_REQUIRE_CHROMIUM=1` (as CI sets it), in which case a missing
//! browser is a failure. `PEERLAB_CHROMIUM` names the binary; otherwise
//! `chromium`, `chromium-browser` and `google-chrome` are looked up on PATH.

mod common;

use common::{run_ok, write_spec};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const SPEC: &str = "[run]\nname = \"browser\"\nseed = 2\n\
    [network]\nnodes = 100\n\
    [network.latency]\nmodel = \"coordinates\"\ndims = 2\ndiameter_ms = 200.0\naccess_min_ms = 1.0\naccess_max_ms = 10.0\n\
    [workload]\njoin_window_s = 20.0\nsettle_s = 30.0\nlookups = 300\nlookup_window_s = 100.0\nputs = 30\nget_delay_s = 10.0\n";

/// Records every image's decoded size and every inline SVG's bounding box
/// into the DOM once the page has loaded.
const PROBE: &str = "<script>
window.addEventListener('load', function () {
  var out = [];
  for (var i = 0; i < document.images.length; i++) {
    var im = document.images[i];
    out.push('img:' + im.naturalWidth + 'x' + im.naturalHeight);
  }
  var svgs = document.querySelectorAll('svg');
  for (var j = 0; j < svgs.length; j++) {
    var b = svgs[j].getBBox();
    out.push('svg:' + Math.round(b.width) + 'x' + Math.round(b.height));
  }
  var pre = document.createElement('pre');
  pre.id = 'peerlab-probe';
  pre.textContent = 'PROBE[' + out.join(' ') + ']PROBE';
  document.body.appendChild(pre);
});
</script>
";

fn find_chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("PEERLAB_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for name in ["chromium", "chromium-browser", "google-chrome"] {
            let p = dir.join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

/// Loads `page` in headless Chromium and returns the DOM after load.
fn dump_dom(chromium: &Path, page: &Path, profile: &Path) -> String {
    let dom_path = profile.with_extension("dom.html");
    let err_path = profile.with_extension("stderr.txt");
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-dev-shm-usage",
            "--virtual-time-budget=10000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        // Files, not pipes: the DOM (images inlined) is far larger than a
        // pipe buffer, and an unread pipe would block the browser.
        .stdout(Stdio::from(std::fs::File::create(&dom_path).unwrap()))
        .stderr(Stdio::from(std::fs::File::create(&err_path).unwrap()))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromium.display()));
    // A hung browser must not hang the suite: give up after two minutes
    // (a safeguard, not a speed requirement).
    let mut waited = 0;
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if waited > 1200 {
            let _ = child.kill();
            panic!("chromium did not finish loading {}", page.display());
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        waited += 1;
    }
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "chromium failed ({status:?}):\n{}",
        std::fs::read_to_string(&err_path).unwrap_or_default()
    );
    String::from_utf8_lossy(&std::fs::read(&dom_path).unwrap()).into_owned()
}

/// Chromium, or `None` (the caller returns) after a loud skip message; a
/// failure when `PEERLAB_REQUIRE_CHROMIUM=1`.
fn chromium_or_skip(test: &str) -> Option<PathBuf> {
    let Some(chromium) = find_chromium() else {
        let required = std::env::var("PEERLAB_REQUIRE_CHROMIUM").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "PEERLAB_REQUIRE_CHROMIUM=1 but no chromium found (install it: apt-get install -y chromium)"
        );
        eprintln!(
            "\n**********************************************************************\n\
             SKIPPED {test}: no chromium on PATH.\n\
             Install it (apt-get install -y chromium) or set PEERLAB_CHROMIUM;\n\
             PEERLAB_REQUIRE_CHROMIUM=1 turns this skip into a failure.\n\
             **********************************************************************\n"
        );
        return None;
    };
    Some(chromium)
}

/// Loads `OUT/report.html` (with the probe) in Chromium and returns the
/// probe's items (`img:WxH`, `svg:WxH`); asserts the page loaded with the
/// heading of run `name`.
fn probe_report(chromium: &Path, out: &Path, profile: &Path, name: &str) -> Vec<String> {
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("</body>"));
    // The probe goes into a copy next to the report, so the page is loaded
    // from the same place with the same (absent) neighbours.
    let probe = out.join("probe.html");
    std::fs::write(&probe, html.replace("</body>", &format!("{PROBE}</body>"))).unwrap();
    let dom = dump_dom(chromium, &probe, profile);
    std::fs::remove_file(&probe).unwrap();
    assert!(
        dom.contains(&format!("<h1>peerlab report: {name}</h1>")),
        "page did not load:\n{}",
        &dom[..dom.len().min(2000)]
    );
    // The result, not the script's own text.
    let marker = "<pre id=\"peerlab-probe\">PROBE[";
    let start = dom.find(marker).expect("probe did not run") + marker.len();
    let end = dom[start..].find("]PROBE").unwrap() + start;
    dom[start..end]
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

#[test]
fn report_renders_in_headless_chromium() {
    let Some(chromium) = chromium_or_skip("report_renders_in_headless_chromium") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let spec = write_spec(tmp.path(), "browser.toml", SPEC);
    let out = tmp.path().join("out");
    run_ok(&spec, &out);

    let items = probe_report(&chromium, &out, &tmp.path().join("profile"), "browser");
    let items: Vec<&str> = items.iter().map(String::as_str).collect();
    let pngs = std::fs::read_dir(out.join("plots"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().unwrap() == "png")
        .count();
    assert!(pngs >= 6, "only {pngs} figures");
    let imgs: Vec<&str> = items
        .iter()
        .copied()
        .filter(|i| i.starts_with("img:"))
        .collect();
    assert_eq!(imgs.len(), pngs, "{items:?}");
    let (w, h) = peerlab_experiments::plot::SIZE;
    for i in &items {
        let (kind, size) = i.split_once(':').unwrap();
        let (x, y) = size.split_once('x').unwrap();
        let (x, y): (u32, u32) = (x.parse().unwrap(), y.parse().unwrap());
        assert!(x > 0 && y > 0, "{kind} of zero size: {items:?}");
        if kind == "img" {
            assert_eq!((x, y), (w, h), "{items:?}");
        }
    }
}

const CALLS_SPEC: &str = r#"
[run]
name = "browser_calls"
seed = 3

[calls]
churn = { nodes = 300, model = { kind = "skype-supernode" }, warmup_s = 43200.0, measurement_s = 21600.0 }
nat = { preset = "consumer" }
calls = { rate_per_s = 0.0005 }
strategies = [{ kind = "random" }, { kind = "min-rtt" }]

[calls.relay]
slots = 2
uplink_kbps = 200
candidates = { kind = "local_random", count = 6 }
"#;

/// The width and height in a PNG's IHDR chunk.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let be = |i: usize| u32::from_be_bytes(bytes[i..i + 4].try_into().unwrap());
    (be(16), be(20))
}

/// A calls run's report shows its calls figures in the browser: one image
/// per PNG in `plots/`, each decoded to that PNG's own size.
#[test]
fn calls_report_renders_in_headless_chromium() {
    let Some(chromium) = chromium_or_skip("calls_report_renders_in_headless_chromium") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let spec = write_spec(tmp.path(), "calls.toml", CALLS_SPEC);
    let out = tmp.path().join("out");
    run_ok(&spec, &out);
    let items = probe_report(
        &chromium,
        &out,
        &tmp.path().join("profile"),
        "browser_calls",
    );
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    // Page order of the figures, and each PNG's size.
    let mut want = Vec::new();
    for part in html.split("<figure id=\"fig-").skip(1) {
        let name = &part[..part.find('"').unwrap()];
        let (w, h) = png_size(&std::fs::read(out.join(format!("plots/{name}.png"))).unwrap());
        want.push(format!("img:{w}x{h}"));
    }
    let pngs = std::fs::read_dir(out.join("plots"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().unwrap() == "png")
        .count();
    assert_eq!(want.len(), pngs, "every figure is in the report");
    assert!(pngs >= 6, "only {pngs} calls figures");
    let imgs: Vec<String> = items
        .iter()
        .filter(|i| i.starts_with("img:"))
        .cloned()
        .collect();
    assert_eq!(imgs, want);
}
