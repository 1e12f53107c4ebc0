// Admins: the classifiers (topic, priority, sentiment). Every version with its manifest; train a
// candidate (a background job: progress polled, cancellable); compare it with the current model
// on the same held-out rows (metrics as bars, confusion matrices as heat maps, the tickets the
// two disagree on); promote or roll back, each after a confirmation.

import { h, mount } from "../dom.js";
import { t } from "../i18n.js";
import { api, enc } from "../api.js";
import { confusion, meter } from "../charts.js";
import { badge, field, section, select, showError, table, toast, when } from "../ui.js";

const TASKS = ["topic", "priority", "sentiment", "risk"];
const POLL_MS = 700;

export function modelsView(ctx, root) {
  const versions = h("div", { id: "model-versions" });
  const detail = h("div", { id: "model-compare" });
  const job = h("div", { id: "model-job" });
  let stopped = false;
  const state = { data: null };
  const reload = async () => {
    try {
      state.data = await api.get("/api/v1/models");
      renderVersions(versions, state.data, (task, version) => compare(detail, task, version, reload), reload);
    } catch (err) { showError(err); return; }
    const open = detail.querySelector("#comparison");   // its state may just have changed
    if (open) compare(detail, open.dataset.task, open.dataset.version, reload, false);
  };
  mount(root, section(t("models.train"), trainForm(job, () => stopped, async (result) => {
    await reload();
    if (result?.version) compare(detail, result.task, result.version, reload);
  }), job), section(t("models.versions"), versions), detail);
  reload();
  return () => { stopped = true; };
}

function trainForm(jobBox, isStopped, done) {
  const task = select("task", TASKS.map((x) => [x, x]), "topic");
  const source = select("source", ["all", "tickets", "history", "upload"].map((x) => [x, t(`models.source.${x}`)]), "all");
  const file = h("input", { type: "file", name: "file", accept: ".csv,.tsv,.jsonl,.ndjson" });
  const textCol = h("input", { type: "text", name: "text_col", value: "text" });
  const labelCol = h("input", { type: "text", name: "label_col", value: "label" });
  const uploadRow = h("div", { class: "row upload-row", hidden: true },
    field(t("models.file"), file), field(t("models.textcol"), textCol), field(t("models.labelcol"), labelCol));
  source.addEventListener("change", () => { uploadRow.hidden = source.value !== "upload"; });
  const auto = h("input", { type: "checkbox", name: "auto_promote" });
  const form = h("form", { class: "op-form", id: "train-form" },
    h("div", { class: "row" }, field(t("models.task"), task), field(t("models.source"), source)),
    uploadRow,
    h("label", { class: "inline" }, auto, t("models.auto")),
    h("p", { class: "muted" }, t("models.train.hint")),
    h("button", { type: "submit", class: "primary" }, t("models.start")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = { task: task.value, source: source.value, auto_promote: auto.checked };
    try {
      if (source.value === "upload") {
        if (!file.files.length) { showError(new Error(t("models.nofile"))); return; }
        const f = file.files[0];
        const up = await api.post(`/api/v1/models/uploads?name=${enc(f.name)}`, f);
        Object.assign(body, { upload: up.upload, text_col: textCol.value.trim(), label_col: labelCol.value.trim() });
      }
      const started = await api.post("/api/v1/models/train", body);
      follow(jobBox, started.job, isStopped, done);
    } catch (err) { showError(err); }
  });
  return form;
}

/** Poll a job until it ends, drawing its progress; then hand its result over. */
async function follow(box, jobId, isStopped, done) {
  const bar = h("progress", { max: 100, value: 0, id: "job-progress" });
  const stage = h("span", { class: "stage", id: "job-stage" });
  const logs = h("pre", { class: "logs", id: "job-logs" });
  const cancel = h("button", { type: "button", class: "danger small", onclick: async () => {
    if (!window.confirm(t("models.confirmcancel"))) return;
    try { await api.post(`/api/v1/models/jobs/${enc(jobId)}/cancel`); } catch (err) { showError(err); }
  } }, t("models.cancel"));
  mount(box, h("div", { class: "job", dataset: { job: jobId } }, h("div", { class: "row job-head" },
    h("span", { class: "mono" }, jobId), stage, cancel), bar, logs));
  while (!isStopped()) {
    let j;
    try { j = await api.get(`/api/v1/models/jobs/${enc(jobId)}`); } catch (err) { showError(err); return; }
    bar.value = j.progress?.percent ?? 0;
    stage.textContent = `${t(`models.status.${j.status}`)} · ${j.progress?.stage || ""} ${bar.value}%`;
    logs.textContent = (j.logs || []).slice(-8).join("\n");
    if (["finished", "failed", "canceled", "stopped"].includes(j.status)) {
      cancel.remove();
      box.querySelector(".job").classList.add(j.status);
      if (j.status === "finished") {
        bar.value = 100;
        toast(t("models.trained", { version: j.result?.version || "" }), "ok");
        done(j.result);
      } else toast(`${t(`models.status.${j.status}`)}: ${j.error || ""}`, "error");
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

function score(ev, side) {
  const s = ev?.[side];
  return s ? `${(s.macro_f1 * 100).toFixed(1)}` : "";
}

function renderVersions(box, data, onCompare, reload) {
  mount(box, TASKS.map((task) => {
    const list = data.versions[task] || [];
    const running = Object.entries(data.running || {}).map(([w, r]) => `${w}: ${r.versions?.[task] || "?"}`);
    return h("div", { class: "task-block", dataset: { task } },
      h("div", { class: "row task-head" }, h("h3", {}, task),
        h("span", {}, t("models.current"), " ", h("span", { class: "mono current-version" }, data.current[task] || t("common.none"))),
        data.previous[task] ? h("button", { class: "small rollback", onclick: () => rollback(task, data.previous[task], reload) },
          t("models.rollback", { version: data.previous[task] })) : null),
      running.length ? h("p", { class: "muted small" }, t("models.running"), " ", running.join(" · ")) : null,
      table([t("models.version"), t("models.state"), t("models.created"), t("models.by"), t("models.rows"), "macro-F1 (cur → new)", ""],
        list.map((v) => h("tr", { dataset: { version: v.version }, class: v.state },
          h("td", { class: "mono" }, v.version), h("td", {}, badge("state", v.state, t(`models.state.${v.state}`))),
          h("td", {}, when(v.trained_at || v.created)), h("td", {}, v.trained_by || ""),
          h("td", { class: "num" }, v.manifest?.data?.rows ?? ""),
          h("td", { class: "num" }, v.evaluation?.candidate ? `${score(v.evaluation, "current")} → ${score(v.evaluation, "candidate")}` : ""),
          h("td", { class: "actions" }, h("button", { class: "small compare", onclick: () => onCompare(task, v.version) }, t("models.compare")),
            v.state !== "current" ? h("button", { class: "small primary promote", onclick: () => promote(task, v.version, reload) }, t("models.promote")) : null))),
        t("models.none")));
  }));
}

async function promote(task, version, reload) {
  if (!window.confirm(t("models.confirmpromote", { task, version }))) return;
  try {
    const r = await api.post(`/api/v1/models/${enc(task)}/${enc(version)}/promote`);
    toast(t("models.promoted", { task, version }), "ok");
    if (r.unrouted_topics?.length) toast(t("models.unrouted", { topics: r.unrouted_topics.join(", ") }), "error");
    reload();
  } catch (err) { showError(err); }
}

async function rollback(task, version, reload) {
  if (!window.confirm(t("models.confirmrollback", { task, version }))) return;
  try {
    await api.post(`/api/v1/models/${enc(task)}/rollback`);
    toast(t("models.rolledback", { task, version }), "ok");
    reload();
  } catch (err) { showError(err); }
}

/** Two bars per metric: the current model and the candidate, on one 0-1 scale. */
function pairedBars(rows) {
  return h("table", { class: "hbars paired" }, h("tbody", {}, rows.map(([name, cur, cand]) =>
    h("tr", {}, h("th", {}, name), h("td", {}, meter(cur ?? 0, 9), meter(cand ?? 0, 0)),
      h("td", { class: "num" }, `${fmt(cur)} → ${fmt(cand)}`,
        cur != null && cand != null ? h("span", { class: cand >= cur ? "up" : "down" }, ` ${cand >= cur ? "+" : ""}${((cand - cur) * 100).toFixed(1)}`) : null)))));
}

function fmt(v) { return v == null ? "—" : v.toFixed(3); }

async function compare(box, task, version, reload, scroll = true) {
  let m;
  try { m = await api.get(`/api/v1/models/${enc(task)}/${enc(version)}`); } catch (err) { showError(err); return; }
  const ev = m.evaluation || {};
  const cur = ev.current || {};
  const cand = ev.candidate || {};
  const labels = [...new Set([...Object.keys(cand.per_class || {}), ...Object.keys(cur.per_class || {})])].sort();
  const policy = ev.policy || {};
  const legend = h("p", { class: "legend-line" }, h("span", { class: "swatch", dataset: { c: "9" } }), `${t("models.currentmodel")} ${cur.model || ""}`, "  ",
    h("span", { class: "swatch", dataset: { c: "0" } }), `${t("models.candidate")} ${version}`);
  const parts = [
    h("p", { class: "muted" }, t("models.heldout", { n: ev.test_rows ?? 0, split: ev.split || "" })),
    h("div", { class: ["policy", policy.passes ? "pass" : "fail"], id: "policy" },
      policy.passes ? t("models.policy.pass") : t("models.policy.fail"),
      (policy.failures || []).length ? h("ul", {}, policy.failures.map((f) => h("li", {}, f))) : null),
    ev.new_labels?.length ? h("p", {}, t("models.newlabels"), " ", ev.new_labels.map((l) => badge("label", "new", l))) : null,
    legend,
    h("h3", {}, t("model.metrics")),
    pairedBars([["accuracy", cur.accuracy, cand.accuracy], ["macro-F1", cur.macro_f1, cand.macro_f1],
      [t("models.calibration"), cur.calibration ? 1 - cur.calibration.ece : null, cand.calibration ? 1 - cand.calibration.ece : null]]),
    h("h3", {}, t("models.perclass")),
    pairedBars(labels.map((l) => [`${l} (${cand.per_class?.[l]?.support ?? cur.per_class?.[l]?.support ?? 0})`,
      cur.per_class?.[l]?.f1 ?? null, cand.per_class?.[l]?.f1 ?? null])),
    h("div", { class: "two-col confusions" },
      cur.confusion ? h("div", {}, h("h3", {}, `${t("model.confusion")} · ${t("models.currentmodel")}`),
        confusion(cur.confusion.matrix, cur.confusion.labels, { actual: t("model.actual"), predicted: t("model.predicted") })) : null,
      cand.confusion ? h("div", { class: "candidate-confusion" }, h("h3", {}, `${t("model.confusion")} · ${t("models.candidate")}`),
        confusion(cand.confusion.matrix, cand.confusion.labels, { actual: t("model.actual"), predicted: t("model.predicted") })) : null),
    h("h3", {}, t("models.disagree", { n: ev.disagreements ?? 0 })),
    table([t("models.text"), t("models.truth"), t("models.currentmodel"), t("models.candidate")],
      (ev.disagreement_examples || []).map((d) => h("tr", { class: "disagreement" }, h("td", { class: "subject" }, d.text),
        h("td", {}, d.label), h("td", { class: d.current === d.label ? "right" : "wrong" }, d.current),
        h("td", { class: d.candidate === d.label ? "right" : "wrong" }, d.candidate))),
      t("models.nodisagree")),
    h("h3", {}, t("models.manifest")),
    h("dl", { class: "kv manifest" },
      [["labels", (m.manifest?.labels || []).join(", ")], ["data", JSON.stringify(m.manifest?.data?.label_counts || m.manifest?.data || {})],
        ["fingerprint", m.manifest?.data?.fingerprint || ""], ["params", JSON.stringify(m.manifest?.params || {})],
        ["versions", Object.entries(m.manifest?.versions || {}).map(([k, v]) => `${k} ${v}`).join(", ")],
        ["sha256", m.sha256], [t("models.by"), `${m.trained_by} · ${when(m.trained_at)}`],
        [t("models.promotedby"), m.promoted_by ? `${m.promoted_by} · ${when(m.promoted_at)}` : t("common.none")]]
        .map(([k, v]) => [h("dt", {}, k), h("dd", { class: "mono" }, String(v ?? ""))])),
    m.state !== "current" ? h("button", { class: "primary", id: "compare-promote", onclick: () => promote(task, version, reload) },
      t("models.promote.this", { version })) : h("p", {}, badge("state", "current", t("models.state.current"))),
  ];
  mount(box, h("section", { class: "card", id: "comparison", dataset: { task, version } },
    h("h2", {}, t("models.comparing", { task, version })), parts));
  if (scroll) box.scrollIntoView({ block: "start" });
}
