// The dlm serve playground: sends the prompt to /v1/denoise for every model the server
// has (a diffusion model and its AR twin race side by side) and draws each canvas as its
// steps arrive: the prompt in bold, masked positions as ░, each step's commits marked.
// With #autorun in the URL it runs once on load; when every side has finished,
// <main> gets data-done (the sides done) and data-check ("ok", or what failed).
(() => {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const MASK = "\u2591";
  const SPECIAL = /^(<s>|<\/s>|<pad>|<\|endoftext\|>|\[CLS\]|\[SEP\]|\[PAD\])$/;

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // The request body from the controls: only what the user set (the model's defaults
  // fill in the rest, server side).
  function body_of(model) {
    const b = { model: model.id, prompt: $("prompt").value, max_tokens: Number($("max_tokens").value) || 64 };
    const number = (id, key) => { const v = $(id).value; if (v !== "") b[key] = Number(v); };
    number("seed", "seed");
    number("temperature", "temperature");
    if (model.kind === "diffusion") {
      if ($("sampler").value) b.sampler = $("sampler").value;
      if ($("cache").value) b.cache = $("cache").value;
      number("steps", "steps");
      number("threshold", "threshold");
      number("block", "block");
    }
    return b;
  }

  function side_create(model) {
    const s = el("section", "side");
    s.dataset.state = "running";
    s.dataset.model = model.id;
    s.append(el("h2", "", model.id), el("div", "meta", model.kind === "diffusion" ? "diffusion: denoising"
                                                                                     : "autoregressive: left to right"));
    s.counter = el("div", "counter", "waiting");
    s.text = el("div", "text");
    s.append(s.counter, s.text);
    return s;
  }

  // One step's canvas: a span per token.
  function canvas_draw(side, ev) {
    const masked = new Set(ev.masked), committed = new Set(ev.committed);
    const frag = document.createDocumentFragment();
    ev.pieces.forEach((piece, i) => {
      if (!masked.has(i) && SPECIAL.test(piece)) return;
      const cls = i < ev.prompt_tokens ? "p" : masked.has(i) ? "m" : committed.has(i) ? "c" : "";
      frag.append(el("span", cls, masked.has(i) ? MASK : piece));
    });
    side.text.replaceChildren(frag);
    side.masked = masked.size;
    side.steps = ev.step + 1;
    side.seconds = ev.seconds;
    side.counter.textContent = `step ${ev.step + 1} · ${masked.size} masked · ${ev.seconds.toFixed(2)} s`;
  }

  function event_handle(side, data) {
    if (data === "[DONE]") { side.done = true; return; }
    const ev = JSON.parse(data);
    if (ev.error) throw new Error(ev.error.message);
    if (ev.object === "denoise.step" && ev.choice === 0) canvas_draw(side, ev);
    if (ev.usage) side.tokens = ev.usage.completion_tokens;
  }

  // Streams one side's request, drawing as the events come.
  async function side_run(side, body) {
    const res = await fetch("/v1/denoise", { method: "POST", headers: headers(), body: JSON.stringify(body) });
    if (!res.ok) throw new Error((await res.json()).error.message);
    const reader = res.body.getReader(), decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      for (let k; (k = buffer.indexOf("\n\n")) >= 0; buffer = buffer.slice(k + 2))
        event_handle(side, buffer.slice(0, k).replace(/^data: /, ""));
    }
    if (!side.done) throw new Error("the stream ended early");
    const rate = side.seconds > 0 ? side.tokens / side.seconds : 0;
    side.counter.textContent = `done: ${side.tokens} tokens in ${side.steps} steps, ${side.seconds.toFixed(2)} s ` +
                               `(${rate.toFixed(0)} tokens/s)`;
    side.dataset.state = "done";
  }

  // The page's own checks after a run: every side done, nothing left masked, text shown.
  function checks(sides) {
    const failed = [];
    for (const s of sides) {
      if (s.dataset.state !== "done") failed.push(`${s.dataset.model}: ${s.dataset.state}`);
      else if (s.masked > 0) failed.push(`${s.dataset.model}: ${s.masked} still masked`);
      else if (!s.text.textContent.trim()) failed.push(`${s.dataset.model}: no text`);
    }
    return failed.length ? failed.join("; ") : "ok";
  }

  async function run(models) {
    const main = $("main");
    const infill = /<mask:\d+>/.test($("prompt").value);
    const racing = models.filter((m) => m.kind === "diffusion" || !infill);  // AR cannot infill
    const sides = racing.map(side_create);
    main.replaceChildren(...sides);
    main.dataset.check = "";
    $("run").disabled = true;
    await Promise.all(sides.map((s, i) => side_run(s, body_of(racing[i])).catch((e) => {
      s.dataset.state = "error";
      s.counter.replaceChildren(el("span", "error", e.message));
    })));
    $("run").disabled = false;
    main.dataset.done = String(sides.filter((s) => s.dataset.state === "done").length);
    main.dataset.check = checks(sides);
  }

  // The API key field, when the server asks for one (401).
  function headers() {
    const h = { "Content-Type": "application/json" };
    if ($("key").value) h.Authorization = "Bearer " + $("key").value;
    return h;
  }

  async function models_get() {
    const res = await fetch("/v1/models", { headers: headers() });
    if (res.status === 401) {
      $("key-label").hidden = false;
      $("main").replaceChildren(el("p", "error", "This server needs an API key: enter it and run."));
      return null;
    }
    return res.ok ? (await res.json()).data : [];
  }

  async function start() {
    let models = await models_get();
    $("form").addEventListener("submit", async (e) => {
      e.preventDefault();
      if (!models) models = await models_get();
      if (models) run(models);
    });
    if (models && location.hash.includes("autorun")) run(models);
  }
  start();
})();
