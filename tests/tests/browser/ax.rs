//! The page as assistive technology reads it, from Chromium itself: the
//! accessibility tree (DevTools `Accessibility.getFullAXTree` through
//! chromedriver's `goog/cdp/execute`), WebDriver's computed role and label
//! of an element, keys pressed as a keyboard does, and the checks axe-core
//! does not make (disabled controls, focus, target size, badge contrast).

use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::elements::Element;
use fantoccini::key::Key;
use fantoccini::wd::WebDriverCompatibleCommand;
use serde_json::{Value, json};

use super::harness::World;

const PATIENCE: Duration = Duration::from_secs(20);

/// Roles a person operates: one of these exposed as disabled is a control
/// they cannot use.
const CONTROLS: &[&str] = &[
    "link",
    "button",
    "checkbox",
    "radio",
    "textbox",
    "searchbox",
    "combobox",
    "listbox",
    "spinbutton",
    "slider",
    "switch",
    "tab",
    "menuitem",
];

/// A raw WebDriver or chromedriver command fantoccini does not wrap.
#[derive(Debug)]
enum Raw {
    /// `POST /session/{id}/goog/cdp/execute`: one DevTools command.
    Cdp(&'static str, Value),
    /// `GET /session/{id}/element/{id}/computedrole` (or `computedlabel`).
    Computed(String, &'static str),
}

impl WebDriverCompatibleCommand for Raw {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        let session = base_url.join(&format!("session/{}/", session_id.unwrap_or_default()))?;
        match self {
            Raw::Cdp(..) => session.join("goog/cdp/execute"),
            Raw::Computed(element, what) => session.join(&format!("element/{element}/{what}")),
        }
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        match self {
            Raw::Cdp(cmd, params) => (
                http::Method::POST,
                Some(json!({"cmd": cmd, "params": params}).to_string()),
            ),
            Raw::Computed(..) => (http::Method::GET, None),
        }
    }
}

/// One node of Chromium's accessibility tree.
#[derive(Debug, Clone)]
pub struct AxNode {
    pub role: String,
    pub name: String,
    pub description: String,
    pub disabled: bool,
    pub focused: bool,
    pub checked: Option<String>,
    pub live: Option<String>,
    pub level: Option<u64>,
}

impl AxNode {
    fn read(v: &Value) -> Option<AxNode> {
        if v["ignored"].as_bool() == Some(true) {
            return None;
        }
        let text = |k: &str| v[k]["value"].as_str().unwrap_or_default().to_owned();
        let prop = |name: &str| {
            v["properties"]
                .as_array()?
                .iter()
                .find(|p| p["name"] == name)
                .map(|p| p["value"]["value"].clone())
        };
        let as_text = |p: Value| match p {
            Value::String(s) => s,
            other => other.to_string(),
        };
        Some(AxNode {
            role: text("role"),
            name: text("name"),
            description: text("description"),
            disabled: prop("disabled").and_then(|p| p.as_bool()) == Some(true),
            focused: prop("focused").and_then(|p| p.as_bool()) == Some(true),
            checked: prop("checked").map(as_text),
            live: prop("live").map(as_text),
            level: prop("level").and_then(|p| p.as_u64()),
        })
    }

    /// `role “name”`, as a failure names it.
    pub fn said(&self) -> String {
        let mut s = format!("{} “{}”", self.role, self.name);
        if self.disabled {
            s.push_str(" [disabled]");
        }
        if !self.description.is_empty() {
            s.push_str(&format!(" (described as “{}”)", self.description));
        }
        s
    }

    fn is_control(&self) -> bool {
        CONTROLS.contains(&self.role.as_str())
    }
}

/// The accessibility tree of the page, flattened in document order.
#[derive(Debug)]
pub struct AxTree(pub Vec<AxNode>);

impl AxTree {
    /// The nodes with `role` whose name contains `name`.
    pub fn all(&self, role: &str, name: &str) -> Vec<&AxNode> {
        self.0
            .iter()
            .filter(|n| n.role == role && n.name.contains(name))
            .collect()
    }

    /// The focused node, if any (the document itself when nothing else is).
    pub fn focused(&self) -> Option<&AxNode> {
        self.0
            .iter()
            .rev()
            .find(|n| n.focused && n.role != "RootWebArea")
    }

    /// Every control, as `role “name”`, for a failure message.
    pub fn controls(&self) -> String {
        self.0
            .iter()
            .filter(|n| n.is_control())
            .map(AxNode::said)
            .collect::<Vec<_>>()
            .join("\n  ")
    }
}

/// The controls a page's user needs, and the few that may rightly be
/// disabled there (e.g. `openid` on the consent page, which cannot be
/// refused).
pub struct Needs<'a> {
    pub page: &'a str,
    /// `(role, part of the name)`: must be there and enabled.
    pub controls: &'a [(&'a str, &'a str)],
    /// `(role, part of the name)`: may be disabled.
    pub may_be_disabled: &'a [(&'a str, &'a str)],
}

impl World {
    /// Chromium's accessibility tree of the current page.
    pub async fn ax(&self) -> anyhow::Result<AxTree> {
        let v = self
            .browser
            .issue_cmd(Raw::Cdp("Accessibility.getFullAXTree", json!({})))
            .await
            .context("Accessibility.getFullAXTree through chromedriver")?;
        let nodes = v["nodes"].as_array().context("an AX tree")?;
        Ok(AxTree(nodes.iter().filter_map(AxNode::read).collect()))
    }

    /// Waits until the tree has an *enabled* `role` named with `name`
    /// (`describing`: part of its description too, to tell apart two
    /// controls named alike). A control that is there but exposed as
    /// disabled fails at once: that is what assistive technology reads.
    pub async fn wait_role(
        &self,
        role: &str,
        name: &str,
        describing: &str,
    ) -> anyhow::Result<AxNode> {
        let start = Instant::now();
        loop {
            let tree = self.ax().await?;
            let found: Vec<&AxNode> = tree
                .all(role, name)
                .into_iter()
                .filter(|n| n.description.contains(describing))
                .collect();
            if let Some(ok) = found.iter().find(|n| !n.disabled) {
                return Ok((*ok).clone());
            }
            if let Some(off) = found.first() {
                bail!(
                    "the {} is exposed as disabled in the accessibility tree on {}: \
                     a screen reader says it is unavailable and a role-based driver refuses it",
                    off.said(),
                    self.path().await?
                );
            }
            if start.elapsed() > PATIENCE {
                bail!(
                    "no {role} “{name}” (described with “{describing}”) on {}; its controls are:\n  {}",
                    self.path().await?,
                    tree.controls()
                );
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    /// The element whose computed role is `role` and computed label holds
    /// `name` (WebDriver's Get Computed Role / Label), checked enabled in
    /// the accessibility tree first.
    pub async fn by_role(
        &self,
        role: &str,
        name: &str,
        describing: &str,
    ) -> anyhow::Result<Element> {
        let node = self.wait_role(role, name, describing).await?;
        let css = match role {
            "link" => "a[href], [role=link]",
            "button" => "button, input[type=submit], [role=button]",
            "checkbox" => "input[type=checkbox], [role=checkbox]",
            "textbox" => "input:not([type]), input[type=text], input[type=password], textarea",
            "combobox" => "select, [role=combobox]",
            "heading" => "h1, h2, h3, h4, [role=heading]",
            other => bail!("no selector for role {other}"),
        };
        for e in self.browser.find_all(fantoccini::Locator::Css(css)).await? {
            if self.computed(&e, "computedrole").await? == role
                && self.computed(&e, "computedlabel").await? == node.name
                && (describing.is_empty() || self.describes(&e, describing).await?)
            {
                return Ok(e);
            }
        }
        bail!("no element computes to {}", node.said())
    }

    async fn describes(&self, e: &Element, describing: &str) -> anyhow::Result<bool> {
        let text = self
            .browser
            .execute(
                "const ids = (arguments[0].getAttribute('aria-describedby') || '').split(' ');\
                 return ids.map(i => document.getElementById(i)).filter(Boolean)\
                   .map(d => d.textContent).join(' ') + ' ' + (arguments[0].title || '');",
                vec![serde_json::to_value(e)?],
            )
            .await?;
        Ok(text.as_str().unwrap_or_default().contains(describing))
    }

    /// WebDriver's computed role or label of an element.
    pub async fn computed(&self, e: &Element, what: &'static str) -> anyhow::Result<String> {
        let v = self
            .browser
            .issue_cmd(Raw::Computed(e.element_id().to_string(), what))
            .await?;
        Ok(v.as_str().unwrap_or_default().to_owned())
    }

    /// Finds a control by role and name and activates it as a role-based
    /// driver does: only if the tree says it is enabled.
    pub async fn activate(&self, role: &str, name: &str, describing: &str) -> anyhow::Result<()> {
        self.by_role(role, name, describing).await?.click().await?;
        Ok(())
    }

    /// The rule on every page: each control the user needs is there and
    /// enabled, and no control is disabled unless listed as rightly so.
    pub async fn assert_nothing_needed_is_disabled(&self, needs: &Needs<'_>) -> anyhow::Result<()> {
        for (role, name) in needs.controls {
            self.wait_role(role, name, "")
                .await
                .with_context(|| format!("on {}", needs.page))?;
        }
        let tree = self.ax().await?;
        let wrong: Vec<String> = tree
            .0
            .iter()
            .filter(|n| n.is_control() && n.disabled)
            .filter(|n| {
                !needs
                    .may_be_disabled
                    .iter()
                    .any(|(r, name)| n.role == *r && n.name.contains(name))
            })
            .map(AxNode::said)
            .collect();
        ensure!(
            wrong.is_empty(),
            "on {} these controls are exposed as disabled in the accessibility tree:\n  {}",
            needs.page,
            wrong.join("\n  ")
        );
        Ok(())
    }

    /// Presses keys as a keyboard does (WebDriver actions), e.g.
    /// `[Key::Shift, Key::Tab]` for Shift+Tab: all go down, then up.
    pub async fn press(&self, keys: &[Key]) -> anyhow::Result<()> {
        let mut seq = KeyActions::new("keyboard".into());
        for k in keys {
            seq = seq.then(KeyAction::Down {
                value: char::from(*k),
            });
        }
        for k in keys.iter().rev() {
            seq = seq.then(KeyAction::Up {
                value: char::from(*k),
            });
        }
        self.browser.perform_actions(seq).await?;
        self.browser.release_actions().await?;
        Ok(())
    }

    /// Types text into whatever has focus.
    pub async fn type_text(&self, text: &str) -> anyhow::Result<()> {
        let mut seq = KeyActions::new("keyboard".into());
        for c in text.chars() {
            seq = seq
                .then(KeyAction::Down { value: c })
                .then(KeyAction::Up { value: c });
        }
        self.browser.perform_actions(seq).await?;
        Ok(())
    }

    /// Where focus is, as assistive technology reads it: the focused node
    /// of the AX tree, cross-checked with `document.activeElement`'s
    /// computed role and label. The two are read one after the other, so a
    /// focus move the page makes in between (after a navigation, focus goes
    /// to the new page's heading) is read again, for up to 2 s, until both
    /// agree; they must agree then.
    pub async fn focus(&self) -> anyhow::Result<(String, String)> {
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let active = self.browser.active_element().await?;
            let role = self.computed(&active, "computedrole").await?;
            let name = self.computed(&active, "computedlabel").await?;
            let tree = self.ax().await?;
            let Some(n) = tree.focused() else {
                return Ok((role, name));
            };
            if n.role == role && n.name == name {
                return Ok((role, name));
            }
            ensure!(
                Instant::now() < deadline,
                "the AX tree's focus ({}) is not document.activeElement ({role} “{name}”)",
                n.said()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Presses Tab (Shift+Tab when `back`) until focus is on `role` named
    /// with `name`, at most `max` times; returns what focus passed through
    /// (the focus order), each stop checked for a visible focus indicator.
    pub async fn tab_to(
        &self,
        role: &str,
        name: &str,
        back: bool,
        max: usize,
    ) -> anyhow::Result<Vec<(String, String)>> {
        let mut order = Vec::new();
        for _ in 0..max {
            if back {
                self.press(&[Key::Shift, Key::Tab]).await?;
            } else {
                self.press(&[Key::Tab]).await?;
            }
            let here = self.focus().await?;
            if CONTROLS.contains(&here.0.as_str()) {
                self.assert_focus_visible(&here).await?;
            }
            let done = here.0 == role && here.1.contains(name);
            order.push(here);
            if done {
                return Ok(order);
            }
        }
        bail!(
            "{} {max} times on {} never reached {role} “{name}”; focus went:\n  {}",
            if back { "Shift+Tab" } else { "Tab" },
            self.path().await?,
            order
                .iter()
                .map(|(r, n)| format!("{r} “{n}”"))
                .collect::<Vec<_>>()
                .join("\n  ")
        )
    }

    /// Waits until focus is on `role` named with `name`.
    pub async fn wait_focus(&self, role: &str, name: &str) -> anyhow::Result<()> {
        let start = Instant::now();
        loop {
            let here = self.focus().await?;
            if here.0 == role && here.1.contains(name) {
                return Ok(());
            }
            if start.elapsed() > PATIENCE {
                bail!(
                    "focus is on {} “{}”, not on {role} “{name}”, on {}",
                    here.0,
                    here.1,
                    self.path().await?
                );
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    /// The focused control shows where it is: an outline or a ring whose
    /// colour has 3:1 against the page behind it (WCAG 2.4.7, 1.4.11).
    async fn assert_focus_visible(&self, here: &(String, String)) -> anyhow::Result<()> {
        let v = self
            .browser
            .execute(
                &format!(
                    "{BACKGROUND_JS}\
                     const e = document.activeElement, s = getComputedStyle(e);\
                     return {{outline: s.outlineStyle === 'none' || parseFloat(s.outlineWidth) === 0 ? '' :\
                               s.outlineStyle + ' ' + s.outlineColor,\
                             shadow: s.boxShadow === 'none' ? '' : s.boxShadow,\
                             behind: background(e.parentElement)}};"
                ),
                vec![],
            )
            .await?;
        let outline = v["outline"].as_str().unwrap_or_default();
        let shadow = v["shadow"].as_str().unwrap_or_default();
        let behind = rgb(v["behind"].as_str().unwrap_or_default()).context("a background")?;
        // `auto` is the browser's own ring (the sandbox's pages).
        let colours: Vec<[f64; 3]> = if outline.starts_with("auto") {
            vec![[16.0, 16.0, 16.0]]
        } else {
            colours_in(outline)
                .into_iter()
                .chain(colours_in(shadow))
                .collect()
        };
        let best = colours
            .iter()
            .map(|c| contrast(*c, behind))
            .fold(0.0, f64::max);
        ensure!(
            best >= 3.0,
            "focus on {} “{}” is not visible enough on {}: outline “{outline}”, ring “{shadow}” \
             (best contrast {best:.2}:1 against the page)",
            here.0,
            here.1,
            self.path().await?
        );
        Ok(())
    }

    /// Every visible control is at least 24×24 CSS px, unless it is a link
    /// inside a sentence or has room around it (WCAG 2.5.8's inline and
    /// spacing exceptions).
    pub async fn assert_target_sizes(&self, page: &str) -> anyhow::Result<()> {
        let small = self
            .browser
            .execute(
                "const all = [...document.querySelectorAll('a[href], button, input:not([type=hidden]), select, textarea, summary')]\
                   .map(e => [e, e.getBoundingClientRect()])\
                   .filter(([e, r]) => r.width > 0 && r.height > 0 && r.right > 0 && r.left < innerWidth + 1000);\
                 const centre = r => [r.left + r.width / 2, r.top + r.height / 2];\
                 const inline = e => getComputedStyle(e).display === 'inline' &&\
                   [...e.parentElement.childNodes].some(n => n !== e && n.textContent.trim() !== '');\
                 const under = ([e, r]) => r.width < 24 || r.height < 24;\
                 return all.filter(t => under(t) && !inline(t[0])).filter(([e, r]) => {\
                   const [x, y] = centre(r);\
                   return all.some(([f, q]) => f !== e && (under([f, q])\
                     ? Math.hypot(x - centre(q)[0], y - centre(q)[1]) < 24\
                     : Math.max(q.left - x, 0, x - q.right) ** 2 + Math.max(q.top - y, 0, y - q.bottom) ** 2 < 144));\
                 }).map(([e, r]) => e.outerHTML.slice(0, 120) + ' ' + Math.round(r.width) + 'x' + Math.round(r.height));",
                vec![],
            )
            .await?;
        let small: Vec<String> = serde_json::from_value(small)?;
        ensure!(
            small.is_empty(),
            "targets under 24×24 px with no room around them on {page}:\n  {}",
            small.join("\n  ")
        );
        Ok(())
    }

    /// The state badges (`.badge`, `.nav-state`) have 4.5:1 text contrast,
    /// from their computed colours; returns each badge's text.
    pub async fn assert_badge_contrast(&self, page: &str) -> anyhow::Result<Vec<String>> {
        let found = self
            .browser
            .execute(
                &format!(
                    "{BACKGROUND_JS}\
                     return [...document.querySelectorAll('.badge, .nav-state')]\
                       .filter(e => e.getClientRects().length)\
                       .map(e => [e.textContent.trim(), getComputedStyle(e).color, background(e)]);"
                ),
                vec![],
            )
            .await?;
        let found: Vec<(String, String, String)> = serde_json::from_value(found)?;
        let mut texts = Vec::new();
        for (text, fg, bg) in found {
            let ratio = contrast(
                rgb(&fg).context("a colour")?,
                rgb(&bg).context("a background")?,
            );
            ensure!(
                ratio >= 4.5,
                "the badge “{text}” on {page} has {ratio:.2}:1 contrast ({fg} on {bg}), under 4.5:1"
            );
            texts.push(text);
        }
        Ok(texts)
    }
}

/// `background(e)`: the first opaque background colour at or above `e`.
const BACKGROUND_JS: &str = "const background = e => {\
    for (; e; e = e.parentElement) {\
      const c = getComputedStyle(e).backgroundColor;\
      if (c && c !== 'transparent' && !/rgba\\(.*, 0\\)$/.test(c)) return c;\
    }\
    return 'rgb(255, 255, 255)';\
  };";

fn colours_in(css: &str) -> Vec<[f64; 3]> {
    css.match_indices("rgb")
        .filter_map(|(i, _)| rgb(&css[i..]))
        .collect()
}

/// The first `rgb(r, g, b)` / `rgba(r, g, b, a)` at the start of `css`
/// (fully transparent ones excluded).
fn rgb(css: &str) -> Option<[f64; 3]> {
    let inner = css.split_once('(')?.1.split_once(')')?.0;
    let parts: Vec<f64> = inner
        .split(',')
        .map(|p| p.trim().parse().ok())
        .collect::<Option<_>>()?;
    if parts.len() == 4 && parts[3] == 0.0 {
        return None;
    }
    Some([*parts.first()?, *parts.get(1)?, *parts.get(2)?])
}

/// WCAG 2 contrast ratio.
fn contrast(a: [f64; 3], b: [f64; 3]) -> f64 {
    let lum = |c: [f64; 3]| {
        let ch = |v: f64| {
            let v = v / 255.0;
            if v <= 0.04045 {
                v / 12.92
            } else {
                ((v + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * ch(c[0]) + 0.7152 * ch(c[1]) + 0.0722 * ch(c[2])
    };
    let (x, y) = (lum(a), lum(b));
    (x.max(y) + 0.05) / (x.min(y) + 0.05)
}

#[test]
fn contrast_matches_wcag_examples() {
    assert!((contrast([0.0; 3], [255.0; 3]) - 21.0).abs() < 0.01);
    assert!((contrast([118.0; 3], [255.0; 3]) - 4.54).abs() < 0.01);
    assert_eq!(rgb("rgba(0, 0, 0, 0)"), None);
    assert_eq!(
        colours_in("rgb(255, 255, 255) 0px 0px 0px 2px, rgb(9, 90, 117) 0px 0px 0px 4px"),
        vec![[255.0; 3], [9.0, 90.0, 117.0]]
    );
}
