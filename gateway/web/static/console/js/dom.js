// Building the page without ever parsing HTML: every string becomes a text node, so customer
// text such as "<script>" or "<img onerror=...>" can only ever be shown, never run.

const SVG_NS = "http://www.w3.org/2000/svg";

function append(el, child) {
  if (child === null || child === undefined || child === false) return;
  if (Array.isArray(child)) { child.forEach((c) => append(el, c)); return; }
  el.append(child instanceof Node ? child : document.createTextNode(String(child)));
}

function setAttrs(el, attrs) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2), value);
    } else if (name === "class") {
      el.setAttribute("class", Array.isArray(value) ? value.filter(Boolean).join(" ") : value);
    } else if (name === "dataset") {
      Object.assign(el.dataset, value);
    } else if (name === "value" && "value" in el) {
      el.value = value;
    } else {
      el.setAttribute(name, value === true ? "" : String(value));
    }
  }
}

/** h("div", {class: "x", onclick: fn}, "text", child, [more]) */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

export function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

export function mount(el, ...children) {
  clear(el);
  append(el, children);
  return el;
}

/** Split `text` into text nodes and <mark>s for every occurrence of the given needles
 *  (entities, keywords); the marks carry a class and a title, never markup. */
export function highlight(text, needles) {
  const found = [];
  for (const n of needles) {
    if (!n.text || n.text.length < 2) continue;
    const hay = text.toLowerCase();
    const needle = n.text.toLowerCase();
    let at = hay.indexOf(needle);
    while (at !== -1) {
      found.push({ start: at, end: at + needle.length, ...n });
      at = hay.indexOf(needle, at + needle.length);
    }
  }
  found.sort((a, b) => a.start - b.start || b.end - a.end);
  const out = [];
  let pos = 0;
  for (const f of found) {
    if (f.start < pos) continue; // overlaps an earlier, longer mark
    if (f.start > pos) out.push(text.slice(pos, f.start));
    out.push(h("mark", { class: f.cls, title: f.title }, text.slice(f.start, f.end)));
    pos = f.end;
  }
  if (pos < text.length) out.push(text.slice(pos));
  return out;
}
