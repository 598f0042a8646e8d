//! The HTML report is well-formed and self-contained.

use crate::util::{Dir, http_service};

/// Checks that every element is closed in order (void elements and `/>` excepted) and that
/// `<style>` content is skipped. Returns the element names seen.
fn check_balanced(html: &str) -> Result<Vec<String>, String> {
    const VOID: [&str; 6] = ["meta", "br", "img", "input", "link", "hr"];
    let mut stack: Vec<String> = Vec::new();
    let mut seen = Vec::new();
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        rest = &rest[open..];
        if let Some(after) = rest.strip_prefix("<!--") {
            rest = &after[after.find("-->").ok_or("unclosed comment")? + 3..];
            continue;
        }
        let close = rest.find('>').ok_or("unclosed tag")?;
        let tag = &rest[1..close];
        rest = &rest[close + 1..];
        if tag.starts_with('!') {
            continue;
        }
        if let Some(name) = tag.strip_prefix('/') {
            let name = name.trim().to_ascii_lowercase();
            match stack.pop() {
                Some(open) if open == name => {}
                other => return Err(format!("</{name}> closes {other:?}")),
            }
            continue;
        }
        let name: String =
            tag.chars().take_while(|c| c.is_ascii_alphanumeric()).collect::<String>().to_ascii_lowercase();
        if name.is_empty() {
            return Err(format!("bad tag <{tag}>"));
        }
        seen.push(name.clone());
        if tag.ends_with('/') || VOID.contains(&name.as_str()) {
            continue;
        }
        if name == "style" || name == "script" {
            let end = format!("</{name}>");
            rest = &rest[rest.find(&end).ok_or("unclosed style")? + end.len()..];
            continue;
        }
        stack.push(name);
    }
    if stack.is_empty() { Ok(seen) } else { Err(format!("unclosed: {stack:?}")) }
}

#[test]
fn the_checker_catches_mistakes() {
    assert!(check_balanced("<p><b>x</b></p>").is_ok());
    assert!(check_balanced("<p><b>x</p></b>").is_err());
    assert!(check_balanced("<div><p>x</div>").is_err());
    assert!(check_balanced("<meta charset=\"utf-8\"><br/><style>a > b {}</style>").is_ok());
}

#[test]
fn the_html_report_is_well_formed_and_self_contained() {
    let port = http_service();
    let dir = Dir::new("html");
    dir.write(
        "s.toml",
        &format!(
            r#"version = 1
[scenario]
name = "html <&> \"quotes\""
repeat = 40
failure_policy = "continue_on_failure"
thresholds = {{ preset = "relaxed", min_success_rate = 0.0 }}
[[steps]]
type = "http"
name = "get"
url = "http://127.0.0.1:{port}/ok"
[[injectors]]
type = "error"
label = "<boom>"
probability = 0.25
[[injectors]]
type = "delay"
probability = 0.5
min = "1ms"
max = "5ms"
[[validators]]
type = "max_iteration_time"
max = "3ms"
severity = "warning"
"#
        ),
    );
    dir.run(&["run", "s.toml", "-q"]).expect_code(0);
    let html = dir.read("chaoskit-report/report.html");
    let tags = check_balanced(&html).unwrap_or_else(|e| panic!("{e}\n{html}"));
    for needed in ["html", "head", "body", "svg", "polyline", "table", "rect"] {
        assert!(tags.iter().any(|t| t == needed), "no <{needed}> in the report");
    }
    let lower = html.to_ascii_lowercase();
    assert!(!lower.contains("<script"), "no script at all");
    for attr in ["src=\"http", "href=\"http", "src='http", "href='http", "url(http", "@import"] {
        assert!(!lower.contains(attr), "external reference `{attr}`");
    }
    // User text is escaped, never markup.
    assert!(html.contains("<h1>html &#60;&#38;&#62; &#34;quotes&#34; <span"), "{html}");
    assert!(!html.contains("<boom>"));
    assert!(html.contains("<td>&#60;boom&#62;</td>"), "{html}");
    assert!(html.contains(">&lt;boom&gt;</text>"), "SVG labels are escaped too");
}
