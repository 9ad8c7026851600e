"use strict";
(() => {
  const data = JSON.parse(document.getElementById("dlm-data").textContent);
  const MASK = "\u2591";
  const root = document.getElementById("replay");
  const play_button = document.getElementById("play");
  const restart_button = document.getElementById("restart");
  const speed_select = document.getElementById("speed");
  const timeline = document.getElementById("timeline");
  const clock = document.getElementById("clock");
  const summary = document.getElementById("summary");

  // Every step's sequence, rebuilt once from the compact steps (see compare_html.h).
  function side_prepare(d, index) {
    const el = document.getElementById("side" + index);
    const frames = [], commits = [], times = [];
    let seq = d.start.slice();
    for (const st of d.steps) {
      seq = seq.slice();
      if (st.n !== undefined) {
        const old = seq.length;
        seq.length = st.n;
        for (let p = old; p < st.n; ++p) seq[p] = d.mask_id;
      }
      if (st.s) for (let j = 0; j + 1 < st.s.length; j += 2) seq[st.s[j]] = st.s[j + 1];
      const appended = [];
      if (st.a) for (const id of st.a) { appended.push(seq.length); seq.push(id); }
      frames.push(seq);
      commits.push(new Set(st.c || appended));
      times.push(st.t);
    }
    const field = (name) => el.querySelector('[data-field="' + name + '"]');
    return { d, el, frames, commits, times, text: el.querySelector(".text"),
             step_el: field("step"), time_el: field("time"), tokens_el: field("tokens"), shown: -1, generated: 0 };
  }
  const sides = data.sides.map(side_prepare);
  const end = Math.max(0, ...sides.map((s) => s.times[s.times.length - 1]));

  // The text after `k` steps (0: the start), in runs of one style.
  function text_render(s, k) {
    const d = s.d, seq = k ? s.frames[k - 1] : d.start, commit = k ? s.commits[k - 1] : new Set();
    const frag = document.createDocumentFragment();
    let cls = null, run = "", masked = 0, generated = 0;
    const flush = () => {
      if (run) {
        const span = document.createElement("span");
        span.className = cls;
        span.textContent = run;
        frag.appendChild(span);
      }
      run = "";
    };
    for (let p = 0; p < seq.length; ++p) {
      const id = seq[p], prompt = p < d.start.length && d.start[p] !== d.mask_id;
      let c, piece;
      if (id === d.mask_id) {
        c = "m"; piece = MASK; ++masked;
      } else {
        piece = d.pieces[id] ?? "";
        c = prompt ? "p" : commit.has(p) ? "c" : "g";
        if (!prompt) ++generated;
      }
      if (c !== cls) { flush(); cls = c; }
      run += piece;
    }
    flush();
    s.text.replaceChildren(frag);
    s.text.dataset.masked = masked;
    s.generated = generated;
  }

  // Steps reached by trace time `t`.
  function steps_at(times, t) {
    let lo = 0, hi = times.length;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (times[mid] <= t) lo = mid + 1; else hi = mid; }
    return lo;
  }

  const seconds_format = (x) => x.toFixed(2) + " s";
  let speed = 1, playing = false, pos = 0, anchor_real = 0, anchor_pos = 0, timer = 0;
  const pos_now = () => playing ? Math.min(end, anchor_pos + (performance.now() - anchor_real) / 1000 * speed) : pos;
  const anchor = () => { anchor_pos = pos; anchor_real = performance.now(); };

  function update() {
    let done = 0;
    for (const s of sides) {
      const n = s.times.length, k = steps_at(s.times, pos);
      if (k !== s.shown) { text_render(s, k); s.shown = k; }
      const finished = k >= n;
      s.el.dataset.state = finished ? "done" : pos > 0 ? "running" : "waiting";
      s.el.dataset.step = k;
      s.step_el.textContent = k + "/" + n;
      s.time_el.textContent = seconds_format(finished ? s.times[n - 1] : pos);
      s.tokens_el.textContent = s.generated;
      if (finished) ++done;
    }
    root.dataset.done = done;
    summary.hidden = done < sides.length;
    timeline.value = Math.round(pos * 1000);
    clock.textContent = seconds_format(pos) + " / " + seconds_format(end);
    play_button.textContent = playing ? "Pause" : pos >= end ? "Replay" : "Play";
  }

  // Redraw at the next step of either side, and at least every 50 ms for the clocks.
  function tick() {
    clearTimeout(timer);
    pos = pos_now();
    if (pos >= end) playing = false;
    update();
    if (!playing) return;
    let next = end;
    for (const s of sides) { const k = steps_at(s.times, pos); if (k < s.times.length) next = Math.min(next, s.times[k]); }
    timer = setTimeout(tick, Math.max(1, Math.min(50, (next - pos) / speed * 1000)));
  }
  function play() { if (pos >= end) pos = 0; playing = true; anchor(); tick(); }
  function pause() { pos = pos_now(); playing = false; clearTimeout(timer); update(); }
  function seek(t) { pos = Math.max(0, Math.min(end, t)); anchor(); if (playing) tick(); else update(); }

  play_button.addEventListener("click", () => playing ? pause() : play());
  restart_button.addEventListener("click", () => { seek(0); if (!playing) play(); });
  speed_select.addEventListener("change", () => { pos = pos_now(); anchor(); speed = Number(speed_select.value); tick(); });
  timeline.addEventListener("input", () => seek(Number(timeline.value) / 1000));
  document.addEventListener("keydown", (e) => {
    if (e.key === " " && e.target === document.body) { e.preventDefault(); playing ? pause() : play(); }
  });

  timeline.max = Math.max(1, Math.round(end * 1000));
  // #speed=8 (any positive factor), #paused, #at=0.5 (start there, in trace seconds).
  const hash = new URLSearchParams(location.hash.slice(1));
  const wanted = Number(hash.get("speed"));
  if (wanted > 0) {
    if (![...speed_select.options].some((o) => Number(o.value) === wanted))
      speed_select.add(new Option(wanted + "\u00d7", String(wanted)));
    speed_select.value = [...speed_select.options].find((o) => Number(o.value) === wanted).value;
    speed = wanted;
  }
  const at = Number(hash.get("at"));
  if (at > 0) pos = Math.min(end, at);
  update();
  if (!hash.has("paused")) play();
})();
